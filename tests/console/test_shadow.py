"""Reuse of what the browser holds (copies of scrolled rows, unchanged tiles
skipped): the canvas that :func:`encoders.apply_update` paints, as
console_decode.ts does, equals the framebuffer after every update."""

from __future__ import annotations

import numpy as np

from kernelswitch.console import encoders
from kernelswitch.console.framebuffer import Framebuffer
from kernelswitch.console.shadow import Shadow

W, H, CW, CH = 720, 400, 9, 16
rng = np.random.default_rng(7)
GLYPHS = rng.random((60, CH, CW)) < 0.3
FG, BG = (170, 170, 170, 255), (0, 0, 0, 255)


def text_line(chars: int) -> np.ndarray:
    line = np.zeros((CH, W, 4), np.uint8)
    line[...] = BG
    for i in range(chars):
        glyph = GLYPHS[rng.integers(len(GLYPHS))]
        line[:, i * CW : (i + 1) * CW][glyph] = FG
    return line


def scroll(fb: Framebuffer, lines: int) -> None:
    """The screen moves up *lines* text lines; new lines at the bottom."""
    px = fb.pixels
    dy = lines * CH
    px[: H - dy] = px[dy:].copy()
    for k in range(lines):
        px[H - dy + k * CH : H - dy + (k + 1) * CH] = text_line(int(rng.integers(5, 79)))


def test_scrolling_text_costs_a_line_and_paints_the_same_pixels() -> None:
    fb = Framebuffer(W, H)
    for row in range(H // CH):
        fb.pixels[row * CH : (row + 1) * CH] = text_line(int(rng.integers(5, 79)))
    shadow = Shadow()
    browser = None
    first = shadow.update(fb, [(0, 0, W, H)])
    assert first
    browser = encoders.apply_update(browser, first)
    copy_bytes = pixel_bytes = 0
    for n in range(30):
        lines = 1 + n % 3
        scroll(fb, lines)
        msg = shadow.update(fb, [(0, 0, W, H)])
        assert msg and msg[1] == encoders.DATA_COPY
        copies = encoders.decode_copies(msg)
        moved = sum(w * h for _x, y, w, h, sy in copies if sy - y == lines * CH)
        assert moved >= 0.7 * sum(w * h for _x, _y, w, h, _sy in copies)  # mostly the scroll
        browser = encoders.apply_update(browser, msg)
        assert np.array_equal(browser, fb.pixels), f"update {n}"
        assert np.array_equal(shadow.fb.pixels, fb.pixels)
        copy_bytes += len(msg)
        pixel_bytes += len(encoders.encode_update(fb, [(0, 0, W, H)]))
    # the new lines only: a fraction of sending every dirty tile
    assert copy_bytes < pixel_bytes / 5


def test_scrolling_down_and_partial_regions() -> None:
    """Rows moving down (a reverse scroll) and a scroll region in part of the
    screen: copies read the canvas before the update, whatever their order."""
    fb = Framebuffer(W, H)
    for row in range(H // CH):
        fb.pixels[row * CH : (row + 1) * CH] = text_line(70)
    shadow = Shadow()
    browser = encoders.apply_update(None, shadow.update(fb, [(0, 0, W, H)]) or b"")
    for dy in (32, -48, 16, -16, 5, -7):  # text moves by whole lines; 5, -7: sent as tiles
        px = fb.pixels
        lo, hi = 64, 336  # only this band scrolls; the status line stays
        band = px[lo:hi].copy()
        if dy > 0:  # content moves up by dy
            px[lo : hi - dy] = band[dy:]
            px[hi - dy : hi] = np.concatenate([text_line(40)] * 3)[:dy]
        else:
            px[lo - dy : hi] = band[: hi - lo + dy]
            px[lo : lo - dy] = np.concatenate([text_line(40)] * 3)[:-dy]
        msg = shadow.update(fb, [(0, lo, W, hi - lo)])
        assert msg and (encoders.decode_copies(msg) or dy % 16), dy
        browser = encoders.apply_update(browser, msg)
        assert np.array_equal(browser, fb.pixels), dy


def test_unchanged_tiles_are_not_sent() -> None:
    fb = Framebuffer(W, H)
    fb.pixels[:CH] = text_line(50)
    shadow = Shadow()
    encoders.apply_update(None, shadow.update(fb, [(0, 0, W, H)]) or b"")
    # QEMU reports a dirty column band that did not change: nothing to send
    assert shadow.update(fb, [(0, 0, W, H)]) == b""
    fb.pixels[200:203, 100:104] = (255, 0, 0, 255)
    msg = shadow.update(fb, [(0, 0, W, H)])
    assert msg and msg[1] == encoders.DATA_PALETTE
    rects = encoders.decode_update(msg)[2]
    assert [r for r, _ in rects] == [(96, 192, 16, 16)]


def test_catch_up_sends_the_shadow_and_sizes_follow_the_screen() -> None:
    fb = Framebuffer(W, H)
    fb.pixels[:CH] = text_line(50)
    shadow = Shadow()
    shadow.update(fb, [(0, 0, W, H)], encode=False)  # no viewer in step: only kept
    late = encoders.apply_update(None, shadow.catch_up([(0, 0, W, H)]))
    assert np.array_equal(late, fb.pixels)
    fb.resize(640, 480)
    fb.pixels[10:20, 10:20] = (1, 2, 3, 255)
    msg = shadow.update(fb, [(0, 0, 640, 480)])
    assert msg
    late = encoders.apply_update(late, msg)  # a new size: a black canvas, then the tiles
    assert np.array_equal(late, fb.pixels)


def test_text_faster_than_the_updates_reuses_its_repeated_columns() -> None:
    """More than a screen scrolled by between two updates (no row survives),
    but every line starts alike (``ls -l``): those tiles come from the old
    screen's same columns."""
    prefix = text_line(30)[:, : 30 * CW]
    fb = Framebuffer(W, H)
    shadow = Shadow()
    canvas_ = None
    sent = plain = 0
    for n in range(10):
        for row in range(H // CH):
            line = text_line(int(rng.integers(35, 79)))
            line[:, : 30 * CW] = prefix
            fb.pixels[row * CH : (row + 1) * CH] = line
        msg = shadow.update(fb, [(0, 0, W, H)])
        assert msg
        canvas_ = encoders.apply_update(canvas_, msg)
        assert np.array_equal(canvas_, fb.pixels), n
        if n:  # unchanged tiles (the prefix where it was) are not sent; others are copied
            assert encoders.decode_copies(msg)
            sent += len(msg)
            plain += len(encoders.encode_update(fb, [(0, 0, W, H)]))
    assert sent < plain
