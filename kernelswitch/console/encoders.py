"""Dirty rectangles and audio as websocket binary messages (the wire format).

Public API (stable): :func:`encode_update`, :func:`decode_update`,
:func:`dirty_tiles`, :func:`encode_audio`, constants ``MSG_UPDATE``/``MSG_AUDIO``,
``DATA_RAW``/``DATA_ZLIB``/``DATA_PALETTE``/``DATA_COPY``, ``TILE``;
:func:`encode_copy_update`, :func:`decode_copies` and :func:`apply_update`
(what a browser does with a message, for tests and the benchmark).

Update message (little-endian)::

    u8 kind=1, u8 data encoding, u16 nrects, u16 fb_width, u16 fb_height, u32 data length
    nrects x (u16 x, u16 y, u16 w, u16 h)
    data: every rect's RGBA rows, rect after rect; encoding 0: as is, 1: zlib'd as one stream;
    encoding 2: per-tile palettes zlib'd as one stream (:mod:`.palette`), the default
    encoding 3: as 2, with copies between the rects and the data (:mod:`.shadow`):
      u16 ncopies, ncopies x (u16 x, u16 y, u16 w, u16 h, u16 src_y): before painting
      the rects, copy rows src_y.. of columns x..x+w of the canvas to y..; every copy
      reads the canvas as it was before this message

Audio message: ``u8 kind=2, u8 channels, u16 0, u32 rate`` then S16LE PCM.

Why 16x16 tiles: QEMU sends one RFB rect per run of dirty 16-pixel columns and
rows, so a scrolling text console arrives as ~250 tiny rects per update. Their
bounding box (what we sent before) was 4.7x the changed pixels; rounding them up
to 16x16 tiles and merging runs gives ~44 rects covering 1.7x, which costs
less everywhere. Measured on 60 captured updates of the test OS scrolling
``ls -l`` (720x400): bounding box 281k pixels, 33.3 kB zlib'd, 2.6-3.7 ms to
encode, 4.5-8.0 ms (wall) for headless Chromium to inflate and paint; tiles
102k pixels, 14.6 kB, 1.0-1.4 ms, 2.0-2.1 ms. The whole session on a live
scrolling guest went from 0.14-0.16 to 0.10-0.11 core with one viewer.

Why one zlib stream for all rects, level 1, lossless: a console is mostly text,
which a lossy codec smears; one stream means one ``DecompressionStream`` per
message in the browser (its set-up cost is per call, not per byte), and level 1
is the fast end (a full 720x400 frame: 1,152,000 bytes raw -> 24,982 in 5.1 ms;
level 6: 10,437 in 18 ms; Pillow PNG level 1: 23,123 in 22.9 ms). Data that
zlib cannot shrink goes raw. Each update is encoded once and the same bytes
go to every viewer that is keeping up.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from .framebuffer import Framebuffer
from .palette import decode_tiles, encode_tiles, split_aligned

MSG_UPDATE = 1
MSG_AUDIO = 2
DATA_RAW = 0
DATA_ZLIB = 1
DATA_PALETTE = 2
DATA_COPY = 3
#: Dirty rects are rounded up to TILE x TILE tiles (QEMU tracks 16-pixel columns).
TILE = 16

Rect = tuple[int, int, int, int]
_HEAD = struct.Struct("<BBHHHI")
_RECT = struct.Struct("<HHHH")
_COPY = struct.Struct("<HHHHH")
_U16 = struct.Struct("<H")
Copy = tuple[int, int, int, int, int]


def dirty_tiles(rects: list[Rect], width: int, height: int, tile: int = TILE) -> list[Rect]:
    """The rects rounded up to *tile*-sized tiles, clipped to the screen, as few
    rects as runs allow: horizontal runs of dirty tiles per tile row, and runs
    with the same columns in consecutive tile rows merged into one rect."""
    if width <= 0 or height <= 0:
        return []
    rows, cols = -(-height // tile), -(-width // tile)
    mask = np.zeros((rows, cols), bool)
    for x, y, w, h in rects:
        if w > 0 and h > 0:
            mask[y // tile : -(-(y + h) // tile), x // tile : -(-(x + w) // tile)] = True
    return mask_rects(mask, width, height, tile)


def mask_rects(mask: np.ndarray, width: int, height: int, tile: int = TILE) -> list[Rect]:
    """The tiles set in *mask* (tile rows x tile columns) as merged rects (see
    :func:`dirty_tiles`), clipped to the screen."""
    rows, cols = mask.shape
    padded = np.zeros((rows, cols + 2), np.int8)  # a clean column on each side
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)
    starts, ends = np.argwhere(edges == 1), np.argwhere(edges == -1)  # row-major, paired
    out: list[list[int]] = []
    open_runs: dict[tuple[int, int], int] = {}  # (col0, col1) -> index in out
    for (row, c0), (_, c1) in zip(starts.tolist(), ends.tolist(), strict=True):
        y = row * tile
        h = min(tile, height - y)
        i = open_runs.get((c0, c1))
        if i is not None and out[i][1] + out[i][3] == y:
            out[i][3] += h  # same columns as the run just above: grow it down
            continue
        x = c0 * tile
        open_runs[(c0, c1)] = len(out)
        out.append([x, y, min(c1 * tile, width) - x, h])
    return [(x, y, w, h) for x, y, w, h in out]


def encode_update(
    fb: Framebuffer, rects: list[Rect], *, compress: bool = True, palette: bool = True
) -> bytes:
    """One update message with the current pixels of (the tiles of) *rects*:
    per-tile palettes zlib'd (``DATA_PALETTE``, see :mod:`.palette`) unless
    *palette* is off or *compress* is off (then RGBA, zlib'd when that shrinks it)."""
    tiles = dirty_tiles(rects, fb.width, fb.height)
    if palette and compress:
        tiles = split_aligned(tiles)
        z = zlib.compress(encode_tiles(fb.pixels, tiles), 1)
        head = _HEAD.pack(MSG_UPDATE, DATA_PALETTE, len(tiles), fb.width, fb.height, len(z))
        return b"".join([head, *(_RECT.pack(*r) for r in tiles), z])
    total = sum(w * h for _x, _y, w, h in tiles) * 4
    data = np.empty(total, np.uint8)
    off = 0
    for x, y, w, h in tiles:  # one copy of each rect, straight into the message data
        n = w * h * 4
        data[off : off + n].reshape(h, w, 4)[...] = fb.pixels[y : y + h, x : x + w]
        off += n
    enc, body = DATA_RAW, data.data
    if compress and total:
        z = zlib.compress(body, 1)
        if len(z) < total:
            enc, body = DATA_ZLIB, memoryview(z)
    head = _HEAD.pack(MSG_UPDATE, enc, len(tiles), fb.width, fb.height, len(body))
    return b"".join([head, *(_RECT.pack(*r) for r in tiles), body])


def encode_copy_update(fb: Framebuffer, rects: list[Rect], copies: list[Copy]) -> bytes:
    """Copies, then *rects* (whole tiles) as palette tiles: ``DATA_COPY``, or
    ``DATA_PALETTE`` when there is nothing to copy; ``b""`` when there is
    nothing at all (no message to send)."""
    if not copies:
        return encode_update(fb, rects) if rects else b""
    tiles = split_aligned(rects)
    z = zlib.compress(encode_tiles(fb.pixels, tiles), 1)
    head = _HEAD.pack(MSG_UPDATE, DATA_COPY, len(tiles), fb.width, fb.height, len(z))
    return b"".join([
        head, *(_RECT.pack(*r) for r in tiles), _U16.pack(len(copies)),
        *(_COPY.pack(*c) for c in copies), z,
    ])  # fmt: skip


def decode_copies(msg: bytes) -> list[Copy]:
    """The copies of an update message (none but in ``DATA_COPY``)."""
    _kind, enc, n, _w, _h, _len = _HEAD.unpack_from(msg)
    if enc != DATA_COPY:
        return []
    off = _HEAD.size + n * _RECT.size
    (count,) = _U16.unpack_from(msg, off)
    return [_COPY.unpack_from(msg, off + 2 + i * _COPY.size) for i in range(count)]


def apply_update(canvas: np.ndarray | None, msg: bytes) -> np.ndarray:
    """*canvas* (HxWx4) after the browser painted *msg* (a new black one when
    the size changed), as console_decode.ts does it: copies (from the canvas
    before the message), then rects."""
    width, height, rects = decode_update(msg)
    if canvas is None or canvas.shape[:2] != (height, width):
        canvas = np.zeros((height, width, 4), np.uint8)
        canvas[..., 3] = 255
    copies = decode_copies(msg)
    before = canvas.copy() if copies else canvas
    for x, y, w, h, sy in copies:
        canvas[y : y + h, x : x + w] = before[sy : sy + h, x : x + w]
    for (x, y, w, h), px in rects:
        canvas[y : y + h, x : x + w] = px
    return canvas


def encode_audio(pcm: bytes, channels: int = 2, rate: int = 44100) -> bytes:
    return struct.pack("<BBxxI", MSG_AUDIO, channels, rate) + pcm


def decode_update(msg: bytes) -> tuple[int, int, list[tuple[Rect, np.ndarray]]]:
    """The inverse of :func:`encode_update` (tests and the benchmark use it)."""
    kind, enc, n, width, height, length = _HEAD.unpack_from(msg)
    if kind != MSG_UPDATE:
        raise ValueError(f"not an update message (kind {kind})")
    off = _HEAD.size + n * _RECT.size
    if enc == DATA_COPY:
        off += _U16.size + _U16.unpack_from(msg, off)[0] * _COPY.size
    data = bytes(msg[off : off + length])
    if enc in (DATA_ZLIB, DATA_PALETTE, DATA_COPY):
        data = zlib.decompress(data)
    geometry = [_RECT.unpack_from(msg, _HEAD.size + i * _RECT.size) for i in range(n)]
    if enc in (DATA_PALETTE, DATA_COPY):
        return width, height, list(zip(geometry, decode_tiles(data, geometry), strict=True))
    out = []
    pos = 0
    for i in range(n):
        x, y, w, h = _RECT.unpack_from(msg, _HEAD.size + i * _RECT.size)
        px = np.frombuffer(data, np.uint8, w * h * 4, pos).reshape(h, w, 4)
        pos += w * h * 4
        out.append(((x, y, w, h), px))
    return width, height, out
