"""Console pieces that need no guest: keymap, keys, wire format, framebuffer."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from kernelswitch.console import encoders, keymap
from kernelswitch.console.errors import BadInput
from kernelswitch.console.framebuffer import Framebuffer, write_png_atomic
from kernelswitch.console.keys import combo_events, key_events, text_events

REPO = Path(__file__).resolve().parents[2]


def test_keymap_module_is_what_the_generator_writes() -> None:
    spec = importlib.util.spec_from_file_location("genkeymap", REPO / "scripts" / "gen-keymap.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    expected = gen.generate(gen.DEFAULT_CSV)
    assert (REPO / "kernelswitch" / "console" / "keymap.py").read_text() == expected


def test_keymap_physical_keys() -> None:
    # AT set 1 as QEMU's qnum: E0-prefixed keys as 0x80|xx
    assert keymap.CODES["KeyA"] == (0x1E, ord("a"))
    assert keymap.CODES["KeyQ"][0] == 0x10  # AZERTY's 'a' key is still KeyQ's position
    assert keymap.CODES["ControlRight"][0] == 0x9D
    assert keymap.CODES["ArrowUp"][0] == 0xC8
    assert keymap.CODES["Delete"][0] == 0xD3
    assert keymap.CHARS["_"] == ("Minus", True)
    assert keymap.CHARS[">"] == ("Period", True)
    assert keymap.CHARS["|"] == ("Backslash", True)


def test_key_events_take_the_browser_keysym() -> None:
    assert key_events("KeyQ", "a") == (0x10, ord("a"))  # AZERTY: position Q, char a
    assert key_events("Enter", "Enter") == (0x1C, 0xFF0D)
    with pytest.raises(BadInput, match="unknown key code"):
        key_events("NoSuchKey")


def test_combos_and_text() -> None:
    ev = combo_events("ctrl+alt+delete")
    assert [(q, d) for q, _s, d in ev] == [
        (0x1D, True), (0x38, True), (0xD3, True), (0xD3, False), (0x38, False), (0x1D, False),
    ]  # fmt: skip
    assert [q for q, _s, _d in combo_events("ctrl+f2")] == [0x1D, 0x3C, 0x3C, 0x1D]
    with pytest.raises(BadInput, match="unknown key 'hyper'"):
        combo_events("ctrl+hyper")
    ev = text_events("A>")
    assert [(q, d) for q, _s, d in ev] == [
        (0x2A, True), (0x1E, True), (0x1E, False), (0x2A, False),
        (0x2A, True), (0x34, True), (0x34, False), (0x2A, False),
    ]  # fmt: skip
    with pytest.raises(BadInput, match="cannot type 'é'"):
        text_events("é")
    with pytest.raises(BadInput, match="too long"):
        text_events("a" * 5000)


def test_update_roundtrip_and_tiles() -> None:
    fb = Framebuffer(64, 48)
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, (10, 20, 4), dtype=np.uint8)
    fb.put(5, 6, 20, 10, noise.tobytes())
    fb.fill(0, 0, 64, 2, (255, 255, 255))
    asked = [(5, 6, 20, 10), (0, 0, 64, 2), (0, 0, 64, 2), (60, 40, 30, 30)]
    msg = encoders.encode_update(fb, asked)
    width, height, rects = encoders.decode_update(msg)
    assert (width, height) == (64, 48)
    # 16x16 tiles, duplicates gone, clipped to the screen, runs merged
    assert [r for r, _ in rects] == [(0, 0, 64, 16), (48, 32, 16, 16)]
    screen = np.zeros_like(fb.pixels)
    for (x, y, w, h), px in rects:
        assert np.array_equal(px, fb.pixels[y : y + h, x : x + w])
        screen[y : y + h, x : x + w] = px
    for x, y, w, h in asked:  # every pixel asked for arrived, lossless
        assert np.array_equal(screen[y : y + h, x : x + w], fb.pixels[y : y + h, x : x + w])
    assert (fb.pixels[..., 3] == 255).all()
    assert msg[1] == encoders.DATA_PALETTE
    rgba = encoders.encode_update(fb, asked, palette=False)
    assert rgba[1] == encoders.DATA_ZLIB  # RGBA: the alpha bytes alone compress
    assert [r for r, _ in encoders.decode_update(rgba)[2]] == [r for r, _ in rects]
    # zlib only when it shrinks the data: a tile of noise stays raw
    fb.put(0, 0, 16, 16, rng.integers(0, 256, (16, 16, 4), dtype=np.uint8).tobytes())
    fb.pixels[:16, :16, 3] = rng.integers(0, 256, (16, 16), dtype=np.uint8)
    raw = encoders.encode_update(fb, [(1, 1, 1, 1)], palette=False)
    assert raw[1] == encoders.DATA_RAW
    assert encoders.decode_update(raw)[2][0][0] == (0, 0, 16, 16)
    assert np.array_equal(encoders.decode_update(raw)[2][0][1], fb.pixels[:16, :16])
    # QEMU's many small rects of a scrolling screen: few rects, same pixels covered
    many = [(16 * (i % 4), 3 * (i // 4), 16, 3) for i in range(64)]
    tiles = encoders.dirty_tiles(many, 64, 48)
    assert tiles == [(0, 0, 64, 48)]
    assert encoders.dirty_tiles([(0, 0, 1, 1), (40, 0, 1, 1)], 64, 48) == [
        (0, 0, 16, 16), (32, 0, 16, 16),
    ]  # fmt: skip
    assert encoders.dirty_tiles([(700, 390, 100, 100)], 720, 400) == [(688, 384, 32, 16)]
    assert encoders.dirty_tiles([(0, 0, 0, 5)], 64, 48) == []
    assert encoders.decode_update(encoders.encode_update(fb, []))[2] == []


@pytest.mark.parametrize("size", [(720, 400), (727, 403), (8, 5)])
def test_palette_encoding_is_pixel_exact_and_smaller(size: tuple[int, int]) -> None:
    """Encode -> decode gives back every pixel, for text (2 colours), few-colour
    tiles (3, 4, 5-16 colours), pictures (raw) and the screen's ragged edge."""
    width, height = size
    rng = np.random.default_rng(7)
    fb = Framebuffer(width, height)
    px = fb.pixels
    h4 = max(1, height // 4)
    px[:h4, :, :3] = np.where(rng.random((h4, width, 1)) < 0.2, 170, 0)  # text
    px[h4 : 2 * h4, :, :3] = rng.integers(0, 3, (h4, width, 1)) * 80  # 3 colours
    px[2 * h4 : 3 * h4, :, :3] = rng.integers(0, 16, (h4, width, 1)) * 16  # 16 colours
    px[3 * h4 :, :, :3] = rng.integers(0, 256, (height - 3 * h4, width, 3))  # a picture
    px[:16, :16, :3] = (1, 2, 3)  # one solid tile
    for asked in ([(0, 0, width, height)], [(3, 2, 40, 30), (width - 5, height - 2, 5, 2)]):
        msg = encoders.encode_update(fb, asked)
        assert msg[1] == encoders.DATA_PALETTE
        w, h, rects = encoders.decode_update(msg)
        assert (w, h) == (width, height)
        screen = np.zeros_like(px)
        for (x, y, rw, rh), got in rects:
            assert np.array_equal(got, px[y : y + rh, x : x + rw]), (x, y, rw, rh)
            screen[y : y + rh, x : x + rw] = got
        for x, y, rw, rh in asked:
            assert np.array_equal(screen[y : y + rh, x : x + rw], px[y : y + rh, x : x + rw])
    text = [(0, 0, width, h4)]
    if height >= 64:  # text costs far less than zlib'd RGBA
        ours = len(encoders.encode_update(fb, text))
        rgba = len(encoders.encode_update(fb, text, palette=False))
        assert ours * 2 < rgba, (ours, rgba)


def test_png_written_atomically(tmp_path: Path) -> None:
    from PIL import Image

    fb = Framebuffer(8, 4)
    fb.fill(2, 1, 3, 2, (10, 20, 30))
    path = write_png_atomic(fb.pixels, tmp_path / "p" / "x.png")
    assert [p.name for p in path.parent.iterdir()] == ["x.png"]
    assert np.array_equal(np.asarray(Image.open(path).convert("RGBA")), fb.pixels)
