"""What the browsers already hold, and updates that reuse it (``DATA_COPY``).

Public API (stable): :class:`Shadow` — ``fit(width, height)``,
``update(fb, rects, encode=True) -> bytes | None`` (the shared message for
viewers in step with it; the shadow then holds the new pixels) and
``catch_up(rects) -> bytes`` (its own pixels of *rects*, no references: what
brings a viewer that skipped updates back in step); :func:`find_scroll`.

Why: when a text console scrolls, every row of the screen changes, so QEMU
reports the whole text area dirty, yet the browser already has all but the new
line(s), one line higher. The session keeps a copy of the pixels it sent (the
shadow: what every viewer in step shows), finds the vertical shift that maps
the old rows onto the new ones, and sends each dirty 16x16 tile as one of:

- nothing, when the tile did not change (QEMU works in 16-pixel columns and
  often reports unchanged tiles);
- part of a copy rect "take rows ``src_y``.. of this column range from your
  own canvas", when the tile equals the old screen shifted (checked pixel by
  pixel, so this is lossless: a hash collision can only cost bytes);
- palette pixels (:mod:`.palette`), otherwise.

Copies read the canvas as it was before the update (the browser copies before
it paints the tiles, in an order that never reads a row a previous copy
wrote). A viewer that fell behind got no copies meanwhile: its catch-up
message sends the shadow's pixels of every rect it missed, after which its
canvas equals the shadow again (every later change of the shadow is offered
to it as rects).

Measured on the test OS scrolling ``ls -l /bin`` (720x400): see
benchmarks/console.py and the numbers quoted in encoders.py.
"""

from __future__ import annotations

import numpy as np

from . import encoders
from .framebuffer import Framebuffer
from .palette import split_aligned

Rect = tuple[int, int, int, int]
TILE = encoders.TILE
#: Fewest matching rows (of the dirty ones) for a shift to be tried.
MIN_ROWS = 8
#: Every how many columns a row is sampled for the shift's row hashes (the
#: tiles are then compared in full, so sampling only affects what is tried).
SAMPLE = 3
_MULT = np.random.default_rng(18).integers(1, 1 << 62, 4096, dtype=np.uint64) | np.uint64(1)


def row_hashes(pixels: np.ndarray) -> np.ndarray:
    """One 64-bit value per row of *pixels* (HxWx4), from every SAMPLE-th pixel."""
    sample = pixels.view("<u4")[:, ::SAMPLE, 0].astype(np.uint64)
    return (sample * _MULT[: sample.shape[1]]).sum(axis=1, dtype=np.uint64)


def find_scroll(h_old: np.ndarray, h_new: np.ndarray, y0: int, y1: int) -> int:
    """The shift ``d`` (new row ``y`` = old row ``y + d``) that explains most
    changed rows in ``y0..y1``, or 0, from both screens' row hashes."""
    changed = np.nonzero(h_new[y0:y1] != h_old[y0:y1])[0] + y0
    if changed.size < MIN_ROWS:
        return 0
    # blank rows match everywhere: only rows whose content is rare in the old screen vote
    values, counts = np.unique(h_old, return_counts=True)
    ys = changed[np.isin(h_new[changed], values[counts <= 2])]
    if ys.size < MIN_ROWS:
        return 0
    hit_new, hit_old = np.nonzero(h_new[ys][:, None] == h_old[None, :])
    shifts = hit_old - ys[hit_new]
    shifts = shifts[shifts != 0]
    if shifts.size < MIN_ROWS:
        return 0
    height = h_old.shape[0]
    votes = np.bincount(shifts + height, minlength=2 * height)
    best = int(votes.argmax())
    return best - height if votes[best] >= MIN_ROWS else 0


class Shadow:
    """The pixels every viewer in step shows (see the module docstring)."""

    def __init__(self) -> None:
        self.fb = Framebuffer(0, 0)
        self._hashes = row_hashes(self.fb.pixels)

    def fit(self, width: int, height: int) -> None:
        """A new size: black, as the browser's canvas is after it resizes."""
        if (width, height) != (self.fb.width, self.fb.height):
            self.fb.resize(width, height)
            self._hashes = row_hashes(self.fb.pixels)

    def reset(self, fb: Framebuffer) -> None:
        """Hold *fb*'s pixels now (no viewer holds anything older)."""
        self.fit(fb.width, fb.height)
        self.fb.pixels[...] = fb.pixels
        self._hashes = row_hashes(self.fb.pixels)

    def catch_up(self, rects: list[Rect], *, palette: bool = True) -> bytes:
        return encoders.encode_update(self.fb, rects, palette=palette)

    def update(
        self, fb: Framebuffer, rects: list[Rect], *, encode: bool = True, snapshot: bool = False
    ) -> bytes | None:
        """Take *fb*'s pixels of *rects*; answer the message that turns the
        shadow's old pixels into them (copies + changed tiles) when *encode*.
        *snapshot*: copy *fb* first (it changes meanwhile: called in a thread)."""
        self.fit(fb.width, fb.height)
        width, height = fb.width, fb.height
        tiles = encoders.dirty_tiles(rects, width, height)
        new = fb.pixels.copy() if snapshot else fb.pixels
        old = self.fb.pixels
        if encode and tiles:
            parts = split_aligned(tiles)
            aligned = [t for t in parts if not (t[2] % TILE or t[3] % TILE)]
            send, copies = self._classify(old, new, aligned)
        for x, y, w, h in tiles:
            old[y : y + h, x : x + w] = new[y : y + h, x : x + w]
        if not encode:
            if tiles:
                self._hashes = row_hashes(old)
            return None
        if not tiles:
            return b""
        return encoders.encode_copy_update(self.fb, send + parts[len(aligned) :], copies)

    def _classify(
        self, old: np.ndarray, new: np.ndarray, aligned: list[Rect]
    ) -> tuple[list[Rect], list[tuple[int, int, int, int, int]]]:
        """(tiles to send as pixels, copy rects ``(x, y, w, h, src_y)``), from
        the shadow's pixels before (*old*) and after (*new*)."""
        height, width = new.shape[:2]
        rows, cols = height // TILE, width // TILE
        dirty = np.zeros((rows, cols), bool)
        for x, y, w, h in aligned:
            dirty[y // TILE : (y + h) // TILE, x // TILE : (x + w) // TILE] = True
        if not dirty.any():
            return [], []
        ty = np.nonzero(dirty.any(axis=1))[0]
        y0, y1 = int(ty[0]) * TILE, (int(ty[-1]) + 1) * TILE
        hh, ww = rows * TILE, cols * TILE
        ow, nw = old.view("<u4")[:hh, :ww, 0], new.view("<u4")[:hh, :ww, 0]

        def per_tile(ne: np.ndarray) -> np.ndarray:
            """True for tiles with no pixel set in *ne* (bools): 16 bools are
            two u64 words, OR-ed (8x faster than .all over the tile axes)."""
            words = ne.view(np.uint64).reshape(hh, cols, 2)
            return np.bitwise_or.reduce((words[..., 0] | words[..., 1]).reshape(rows, TILE, cols),
                                        axis=1) == 0  # fmt: skip

        same = per_tile(ow != nw) & dirty
        h_new = row_hashes(new)
        shift = find_scroll(self._hashes, h_new, y0, y1)
        self._hashes = h_new
        moved = np.zeros_like(dirty)
        if shift:
            ne = np.ones((hh, ww), bool)
            lo, hi = max(0, -shift), hh - max(0, shift)
            ne[lo:hi] = ow[lo + shift : hi + shift] != nw[lo:hi]
            # tiles whose source rows leave the screen keep rows of True: never moved
            moved = per_tile(ne) & dirty & ~same
        send = encoders.mask_rects(dirty & ~same & ~moved, width, height)
        merged = encoders.mask_rects(moved, width, height)
        # every copy reads the canvas before the update: up-shifts (src below) top-down
        merged.sort(key=lambda r: r[1], reverse=shift < 0)
        return send, [(x, y, w, h, y + shift) for x, y, w, h in merged]
