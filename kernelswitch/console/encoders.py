"""Dirty rectangles and audio as websocket binary messages (the wire format).

Public API (stable): :func:`encode_update`, :func:`encode_audio`,
:func:`merge_rects`, constants ``MSG_UPDATE``/``MSG_AUDIO``, ``RECT_RAW``/``RECT_ZLIB``.

Update message (little-endian)::

    u8 kind=1, u8 0, u16 nrects, u16 fb_width, u16 fb_height
    per rect: u16 x, u16 y, u16 w, u16 h, u8 encoding, 3 x u8 0, u32 length, data
    encoding 0: w*h*4 bytes RGBA; 1: the same, zlib-compressed

Audio message: ``u8 kind=2, u8 channels, u16 0, u32 rate`` then S16LE PCM.

Why zlib level 1 on RGBA, lossless: a console is mostly text, which a lossy
codec smears. Measured on the test OS's 720x400 text console (one core of this
machine): a full frame is 1,152,000 bytes raw; zlib level 1 makes it 24,982
bytes in 5.1 ms (level 6: 10,437 bytes in 18 ms; Pillow PNG level 1: 23,123
bytes in 22.9 ms, and the browser would need an image decode per rect), and
the browser inflates it natively (``DecompressionStream``). Rects that zlib
cannot shrink go raw. Each update is encoded once and the same bytes go to
every viewer that is keeping up.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from .framebuffer import Framebuffer

MSG_UPDATE = 1
MSG_AUDIO = 2
RECT_RAW = 0
RECT_ZLIB = 1
#: More pending rects than this collapse into their bounding box.
MAX_RECTS = 32

Rect = tuple[int, int, int, int]


def merge_rects(rects: list[Rect]) -> list[Rect]:
    """Fewer rectangles covering the same pixels (exact duplicates dropped;
    many small ones become one bounding box)."""
    seen: list[Rect] = []
    for r in rects:
        if r[2] > 0 and r[3] > 0 and r not in seen:
            seen.append(r)
    if len(seen) <= MAX_RECTS:
        return seen
    x1 = min(r[0] for r in seen)
    y1 = min(r[1] for r in seen)
    x2 = max(r[0] + r[2] for r in seen)
    y2 = max(r[1] + r[3] for r in seen)
    return [(x1, y1, x2 - x1, y2 - y1)]


def _clip(fb: Framebuffer, r: Rect) -> Rect | None:
    x, y, w, h = r
    x2, y2 = min(x + w, fb.width), min(y + h, fb.height)
    if x2 <= x or y2 <= y:
        return None
    return x, y, x2 - x, y2 - y


def encode_update(fb: Framebuffer, rects: list[Rect], *, compress: bool = True) -> bytes:
    """One update message with the current pixels of *rects*."""
    parts = []
    count = 0
    for r in merge_rects(rects):
        c = _clip(fb, r)
        if c is None:
            continue
        x, y, w, h = c
        raw = np.ascontiguousarray(fb.pixels[y : y + h, x : x + w]).tobytes()
        enc, data = RECT_RAW, raw
        if compress:
            z = zlib.compress(raw, 1)
            if len(z) < len(raw):
                enc, data = RECT_ZLIB, z
        parts.append(struct.pack("<HHHHB3xI", x, y, w, h, enc, len(data)))
        parts.append(data)
        count += 1
    head = struct.pack("<BxHHH", MSG_UPDATE, count, fb.width, fb.height)
    return head + b"".join(parts)


def encode_audio(pcm: bytes, channels: int = 2, rate: int = 44100) -> bytes:
    return struct.pack("<BBxxI", MSG_AUDIO, channels, rate) + pcm


def decode_update(msg: bytes) -> tuple[int, int, list[tuple[Rect, np.ndarray]]]:
    """The inverse of :func:`encode_update` (tests and the benchmark use it)."""
    kind, n, width, height = struct.unpack_from("<BxHHH", msg)
    if kind != MSG_UPDATE:
        raise ValueError(f"not an update message (kind {kind})")
    off = 8
    out = []
    for _ in range(n):
        x, y, w, h, enc, length = struct.unpack_from("<HHHHB3xI", msg, off)
        off += 16
        data = msg[off : off + length]
        off += length
        if enc == RECT_ZLIB:
            data = zlib.decompress(data)
        out.append(((x, y, w, h), np.frombuffer(data, np.uint8).reshape(h, w, 4)))
    return width, height, out
