"""What the browsers already hold, and updates that reuse it (``DATA_COPY``).

Public API (stable): :class:`Shadow` — ``fit(width, height)``, ``reset(fb)``,
``update(fb, rects, encode=True) -> bytes | None`` (the shared message for
viewers in step with it, ``b""`` when nothing changed; the shadow then holds
the new pixels) and ``catch_up(rects) -> bytes`` (its own pixels of *rects*,
no references: what brings a viewer that skipped updates back in step).

Why: a text console changes a lot between two updates, yet the browser
already has most of the new tiles somewhere on its canvas, in the same
column: a scroll moves whole rows up, and even when more than a screen
scrolled by between two updates (the test OS's ``ls -l /bin`` under TCG: the
frames share no row), every line starts with the same ``lrwxrwxrwx 1 0 0
... -> /bin/busybox`` columns. Measured on 100 captured updates of that
guest: 77 % of the changed 16x16 tiles equal a tile of the previous screen in
the same column (87 % at any column, at a far higher search cost). So the
session keeps a copy of the pixels it sent (the shadow: what every viewer in
step shows) and sends each dirty tile as one of:

- nothing, when it did not change (QEMU works in 16-pixel columns and often
  reports unchanged tiles);
- part of a copy rect "rows ``src_y``.. of these columns of your canvas as it
  was before this update", when it equals the old tile there, checked pixel
  by pixel (lossless: a hash collision can only cost bytes);
- palette pixels (:mod:`.palette`), otherwise.

A viewer that fell behind got no copies meanwhile: its catch-up message sends
the shadow's pixels of every rect it missed, after which its canvas equals the
shadow again (every later change of the shadow is offered to it as rects).
"""

from __future__ import annotations

import numpy as np

from . import encoders
from .framebuffer import Framebuffer
from .palette import split_aligned

Rect = tuple[int, int, int, int]
Copy = tuple[int, int, int, int, int]
TILE = encoders.TILE
_MULT = np.random.default_rng(18).integers(1, 1 << 62, (TILE, TILE), dtype=np.uint64) | np.uint64(1)


def tile_hashes(pixels: np.ndarray) -> np.ndarray:
    """One 64-bit value per whole 16x16 tile of *pixels* (HxWx4), rows x cols."""
    rows, cols = pixels.shape[0] // TILE, pixels.shape[1] // TILE
    words = pixels.view("<u4")[: rows * TILE, : cols * TILE, 0].astype(np.uint64)
    return np.einsum("aibj,ij->ab", words.reshape(rows, TILE, cols, TILE), _MULT)


def _per_tile(ne: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """True for tiles with no pixel set in *ne* (bools, rows*16 x cols*16): 16
    bools are two u64 words, OR-ed (8x faster than .all over the tile axes)."""
    words = ne.view(np.uint64).reshape(rows * TILE, cols, 2)
    return np.bitwise_or.reduce((words[..., 0] | words[..., 1]).reshape(rows, TILE, cols),
                                axis=1) == 0  # fmt: skip


def _copy_rects(src: np.ndarray) -> list[Copy]:
    """Copy rects from *src* (rows x cols: the old tile row each tile comes
    from, -1 for none): runs along a row with one source row, then runs of
    rows with the same columns and the same shift merged into one rect.

    In numpy, not a loop over tiles: at 33 updates/s the loop cost a scrolling
    console more CPU than finding the copies did."""
    rows, cols = src.shape
    if not rows or not cols:
        return []
    # a run starts where a row's value changes; every row ends with a boundary
    edge = np.ones((rows, cols + 1), bool)
    edge[:, 1:cols] = src[:, 1:] != src[:, :-1]
    br, bc = np.nonzero(edge)
    first = np.nonzero(bc < cols)[0]
    first = first[src[br[first], bc[first]] >= 0]
    if not first.size:
        return []
    r, c0, c1 = br[first], bc[first], bc[first + 1]
    shift = src[r, c0] - r
    # the same columns and shift as in the row above: one rect, taller
    order = np.lexsort((r, shift, c1, c0))
    r, c0, c1, shift = r[order], c0[order], c1[order], shift[order]
    new_rect = np.ones(r.size, bool)
    new_rect[1:] = (c0[1:] != c0[:-1]) | (c1[1:] != c1[:-1]) | (shift[1:] != shift[:-1]) | (
        r[1:] != r[:-1] + 1
    )
    starts = np.nonzero(new_rect)[0]
    heights = np.diff(np.append(starts, r.size))
    x, y = c0[starts] * TILE, r[starts] * TILE
    w, sy = (c1[starts] - c0[starts]) * TILE, (r[starts] + shift[starts]) * TILE
    h = heights * TILE
    cols_ = (y.tolist(), x.tolist(), w.tolist(), h.tolist(), sy.tolist())
    return [(x_, y_, w_, h_, sy_) for y_, x_, w_, h_, sy_ in sorted(zip(*cols_, strict=True))]


class Shadow:
    """The pixels every viewer in step shows (see the module docstring)."""

    def __init__(self) -> None:
        self.fb = Framebuffer(0, 0)
        self._hashes = tile_hashes(self.fb.pixels)

    def fit(self, width: int, height: int) -> None:
        """A new size: black, as the browser's canvas is after it resizes."""
        if (width, height) != (self.fb.width, self.fb.height):
            self.fb.resize(width, height)
            self._hashes = tile_hashes(self.fb.pixels)

    def reset(self, fb: Framebuffer) -> None:
        """Hold *fb*'s pixels now (no viewer holds anything older)."""
        self.fit(fb.width, fb.height)
        self.fb.pixels[...] = fb.pixels
        self._hashes = tile_hashes(self.fb.pixels)

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
                self._hashes = tile_hashes(old)
            return None
        if not tiles:
            return b""
        return encoders.encode_copy_update(self.fb, send + parts[len(aligned) :], copies)

    def _classify(
        self, old: np.ndarray, new: np.ndarray, aligned: list[Rect]
    ) -> tuple[list[Rect], list[Copy]]:
        """(tiles to send as pixels, copy rects ``(x, y, w, h, src_y)``), from
        the shadow's pixels before (*old*) and after (*new*)."""
        height, width = new.shape[:2]
        rows, cols = height // TILE, width // TILE
        dirty = np.zeros((rows, cols), bool)
        for x, y, w, h in aligned:
            dirty[y // TILE : (y + h) // TILE, x // TILE : (x + w) // TILE] = True
        if not dirty.any():
            return [], []
        hh, ww = rows * TILE, cols * TILE
        ow, nw = old.view("<u4")[:hh, :ww, 0], new.view("<u4")[:hh, :ww, 0]
        need = dirty & ~_per_tile(ow != nw, rows, cols)
        tiles_new = nw.reshape(rows, TILE, cols, TILE)
        rr, cc = np.nonzero(need)
        h_old = self._hashes
        h_new = h_old.copy()  # the shadow's hashes after this update: only changed tiles move
        h_new[rr, cc] = np.einsum(
            "nij,ij->n", tiles_new[rr, :, cc, :].astype(np.uint64), _MULT
        )
        self._hashes = h_new
        # each changed tile's candidates: old rows whose tile in that column hashes the
        # same; pick the one the most-voted shift names (a scroll: one rect per block),
        # else the nearest row (repeated text: rows next to each other share a source)
        same = (h_new[:, None, :] == h_old[None, :, :]) & need[:, None, :]  # r x r' x c
        shift = np.arange(rows)[None, :, None] - np.arange(rows)[:, None, None]  # r' - r
        per_pair = same.sum(axis=2)  # r x r': tiles of row r found in old row r'
        votes = np.bincount((shift[..., 0] + rows).ravel(), per_pair.ravel(), 2 * rows).astype(int)
        votes[rows] = 0
        best = int(votes.argmax()) - rows
        dist = np.where(same, np.abs(shift), 4 * rows)
        if best:
            dist = np.where(same & (shift == best), -1, dist)
        pick = dist.argmin(axis=1)  # r x c
        src = np.where(np.take_along_axis(dist, pick[:, None, :], 1)[:, 0, :] < 4 * rows,
                       pick, -1)  # fmt: skip
        picked = np.argwhere(src >= 0)
        if picked.size:  # pixel for pixel, or not a copy
            rr, cc = picked[:, 0], picked[:, 1]
            sr = src[rr, cc]
            t_old = ow.reshape(rows, TILE, cols, TILE)[sr, :, cc, :]
            t_new = tiles_new[rr, :, cc, :]
            bad = (t_old != t_new).any(axis=(1, 2))
            src[rr[bad], cc[bad]] = -1
        send = encoders.mask_rects(need & (src < 0), width, height)
        return send, _copy_rects(src)
