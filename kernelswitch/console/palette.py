"""Per-tile palette encoding of an update's pixels (``DATA_PALETTE``), lossless.

Public API (stable): :func:`split_aligned` ``(rects)``, :func:`encode_tiles`
``(pixels, rects) -> bytes`` (the uncompressed data part of an update
message) and :func:`decode_tiles`
``(data, rects) -> [pixels]`` (the inverse, for tests and the benchmark).

Why: a console is mostly text, and a 16x16 tile of text has 1-4 colours, so
its pixels fit in 1 or 2 bits each plus a few palette entries, where RGBA
spends 32 (zlib then finds far fewer bytes to squeeze: a scrolling text
screen went from ~14.6 kB to a few kB per update). Tiles with many colours
(pictures) are sent as RGB without the pad byte. Everything is computed for
all tiles at once with numpy (sorting each tile's pixels); no per-tile Python.

Layout (all sections back to back, the whole then zlib'd once by the caller)::

    u32 n_tiles, u32 len(ncol), u32 len(palette), u32 len(bits), u32 len(raw)
    ncol:    one u8 per tile in order: colours - 1 (0-15), or 255 = raw tile
    palette: RGB of each palette tile's colours (ncol+1 entries, ascending)
    bits:    each palette tile's indices, row-major, packed MSB first:
             1 colour 0 bits (solid), 2 -> 1 bit, 3-4 -> 2 bits, 5-16 -> 4 bits;
             each tile's bits are padded to whole bytes
    raw:     RGB of each raw tile, row-major

Tiles run rect by rect, each rect's tiles row by row. The rects are cut by
:func:`split_aligned`: whole-tile rects first, then strips at the screen's
edge whose tiles are smaller than 16x16 (always raw).
"""

from __future__ import annotations

import struct

import numpy as np

TILE = 16
#: Most colours a tile is sent with a palette (4-bit indices).
MAX_PALETTE = 16
RAW = 255
_HEAD = struct.Struct("<5I")

Rect = tuple[int, int, int, int]


def _bits(ncol: np.ndarray) -> np.ndarray:
    return np.select([ncol <= 1, ncol <= 2, ncol <= 4], [0, 1, 2], 4)


def split_aligned(rects: list[Rect]) -> list[Rect]:
    """*rects* with any part narrower or shorter than whole tiles (the screen's
    edge) cut off into strips, listed after all the aligned rects: the aligned
    ones are all full tiles, each strip has tiles of one size."""
    aligned: list[Rect] = []
    strips: list[Rect] = []
    for x, y, w, h in rects:
        fw, fh = w - w % TILE, h - h % TILE
        if fw and fh:
            aligned.append((x, y, fw, fh))
        if w - fw and fh:
            strips.append((x + fw, y, w - fw, fh))
        if h - fh and fw:
            strips.append((x, y + fh, fw, h - fh))
        if w - fw and h - fh:
            strips.append((x + fw, y + fh, w - fw, h - fh))
    return aligned + strips


def _tiles_of(words: np.ndarray, rect: Rect) -> np.ndarray:
    """The rect's tiles in raster order, one row of pixels (u32) per tile."""
    x, y, w, h = rect
    th, tw = min(TILE, h), min(TILE, w)
    part = words[y : y + h, x : x + w].reshape(h // th, th, w // tw, tw)
    return part.transpose(0, 2, 1, 3).reshape(-1, th * tw)


def _rgb(words: np.ndarray) -> bytes:
    return np.ascontiguousarray(words).view(np.uint8).reshape(-1, 4)[:, :3].tobytes()


def encode_tiles(pixels: np.ndarray, rects: list[Rect]) -> bytes:
    """The data of the tiles of *rects*, which :func:`split_aligned` made."""
    words = pixels.view("<u4")[..., 0]
    full_rects = [r for r in rects if r[2] % TILE == 0 and r[3] % TILE == 0]
    strip_rects = rects[len(full_rects) :]
    if any(r[2] % TILE == 0 and r[3] % TILE == 0 for r in strip_rects):
        raise ValueError("aligned rects must come first (split_aligned)")
    block = (np.concatenate([_tiles_of(words, r) for r in full_rects])
             if full_rects else np.zeros((0, TILE * TILE), np.uint32))  # fmt: skip
    block = block & np.uint32(0x00FFFFFF)  # alpha is always 255: not sent
    nf = block.shape[0]
    # Text tiles (one or two colours) need no sort: their min and max are all.
    mn, mx = block.min(axis=1), block.max(axis=1)
    two = ((block == mn[:, None]) | (block == mx[:, None])).all(axis=1)
    counts = np.where(mn == mx, 1, 2)
    rest = np.nonzero(~two)[0]
    local = np.zeros((0, TILE * TILE), np.uint8)
    uniq = np.zeros(0, np.uint32)
    if rest.size:  # the others: sort each tile's pixels, count distinct values
        sub = block[rest]
        order = np.argsort(sub, axis=1)
        srt = np.take_along_axis(sub, order, axis=1)
        new = np.ones_like(srt, bool)
        new[:, 1:] = srt[:, 1:] != srt[:, :-1]
        counts[rest] = new.sum(axis=1)
        keep = counts[rest] <= MAX_PALETTE
        rest, order, srt, new = rest[keep], order[keep], srt[keep], new[keep]
        uniq = srt[new]  # each tile's colours, ascending, tile by tile
        rank = (np.cumsum(new, axis=1, dtype=np.uint8) - 1).astype(np.uint8)
        local = np.empty_like(rank)  # each pixel's colour number, in pixel order
        np.put_along_axis(local, order, rank, axis=1)
    small = counts <= MAX_PALETTE
    ncol = np.where(small, counts - 1, RAW).astype(np.uint8)
    # palettes, tile by tile: two-colour tiles' min (and max), the others' sorted colours
    n_pal = np.where(small, counts, 0)
    pal_at = np.concatenate([[0], np.cumsum(n_pal)[:-1]])
    pal_words = np.zeros(int(n_pal.sum()), np.uint32)
    t2 = np.nonzero(two)[0]
    pal_words[pal_at[t2]] = mn[t2]
    t22 = t2[counts[t2] == 2]
    pal_words[pal_at[t22] + 1] = mx[t22]
    if rest.size:
        c = counts[rest]
        first = np.concatenate([[0], np.cumsum(c)[:-1]])
        pal_words[np.repeat(pal_at[rest] - first, c) + np.arange(int(c.sum()))] = uniq
    palette = pal_words.astype("<u4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    # indices, tile by tile
    bits = np.where(small, _bits(counts), 0)
    lengths = bits * (TILE * TILE // 8)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    bits_out = np.zeros(int(lengths.sum()), np.uint8)
    if t22.size:
        text_bits = np.packbits(block[t22] == mx[t22][:, None], axis=1)  # MSB first
        bits_out[offsets[t22][:, None] + np.arange(text_bits.shape[1])[None, :]] = text_bits
    for b in (1, 2, 4):
        group = np.nonzero(bits[rest] == b)[0]
        if group.size:
            per = 8 // b
            v = local[group].reshape(group.size, -1, per)
            packed = v[:, :, 0] << (8 - b)
            for k in range(1, per):
                packed |= v[:, :, k] << (8 - b * (k + 1))
            where = offsets[rest[group]][:, None] + np.arange(packed.shape[1])[None, :]
            bits_out[where] = packed
    raw_parts = [_rgb(block[~small])]
    strip_counts = []
    for r in strip_rects:
        t = _tiles_of(words, r)
        strip_counts.append(t.shape[0])
        raw_parts.append(_rgb(t))
    n = nf + sum(strip_counts)
    ncol_all = np.concatenate([ncol, np.full(n - nf, RAW, np.uint8)])
    raw = b"".join(raw_parts)
    bits_b = bits_out.tobytes()
    head = _HEAD.pack(n, n, len(palette), len(bits_b), len(raw))
    return b"".join([head, ncol_all.tobytes(), palette, bits_b, raw])


def decode_tiles(data: bytes, rects: list[Rect]) -> list[np.ndarray]:
    """Each rect's RGBA pixels from :func:`encode_tiles`'s data."""
    n, ln, lp, lb, lr = _HEAD.unpack_from(data)
    pos = _HEAD.size
    ncol = np.frombuffer(data, np.uint8, ln, pos)
    pal = memoryview(data)[pos + ln : pos + ln + lp]
    bits = memoryview(data)[pos + ln + lp : pos + ln + lp + lb]
    raw = memoryview(data)[pos + ln + lp + lb : pos + ln + lp + lb + lr]
    pp = bp = rp = 0
    t = 0
    out = []
    for _x, _y, w, h in rects:
        px = np.zeros((h, w, 4), np.uint8)
        px[..., 3] = 255
        for ty in range(0, h, TILE):
            th = min(TILE, h - ty)
            for tx in range(0, w, TILE):
                tw = min(TILE, w - tx)
                c = int(ncol[t])
                t += 1
                if c == RAW:
                    k = tw * th * 3
                    rgb = np.frombuffer(raw[rp : rp + k], np.uint8).reshape(th, tw, 3)
                    rp += k
                else:
                    c += 1
                    colours = np.frombuffer(pal[pp : pp + 3 * c], np.uint8).reshape(c, 3)
                    pp += 3 * c
                    b = int(_bits(np.array([c]))[0])
                    if b == 0:
                        idx = np.zeros(th * tw, np.intp)
                    else:
                        k = th * tw * b // 8
                        byte = np.frombuffer(bits[bp : bp + k], np.uint8)
                        bp += k
                        per = 8 // b
                        shifts = np.arange(per - 1, -1, -1) * b
                        idx = ((byte[:, None] >> shifts) & ((1 << b) - 1)).reshape(-1)
                    rgb = colours[idx].reshape(th, tw, 3)
                px[ty : ty + th, tx : tx + tw, :3] = rgb
        out.append(px)
    assert t == n
    return out
