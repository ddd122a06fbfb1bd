"""The guest's screen as a numpy array, and the rectangles that changed.

Public API (stable):

- :class:`Framebuffer` ``(width, height)``: ``pixels`` (HxWx4 uint8 RGBA,
  alpha always 255), ``resize(w, h)``, ``put(x, y, w, h, data)`` (pixels in
  the RFB pixel format we ask QEMU for), ``copy()``, ``version`` (bumps on
  every change), ``generation`` (bumps on every resize).
- :func:`encode_png` ``(pixels) -> bytes`` and :func:`write_png_atomic`.

Why RGBA with red in the low byte: we ask QEMU for 32-bit true colour with
red-shift 0, green 8, blue 16, little-endian, so its Raw rectangles are
already the bytes a browser's ``ImageData`` wants; only the pad byte needs to
become an opaque alpha.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np

#: SetPixelFormat body: 32 bpp, depth 24, little-endian, true colour,
#: 255/255/255 maxima, shifts R=0 G=8 B=16 (memory order R, G, B, pad).
PIXEL_FORMAT = bytes([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 0, 8, 16, 0, 0, 0])
BYTES_PER_PIXEL = 4
#: A pixel as one little-endian word, and its alpha byte (the high one) all set.
_WORD = np.dtype("<u4")
_OPAQUE = np.uint32(0xFF000000)


class Framebuffer:
    """HxWx4 RGBA pixels, written by the RFB client, read by everyone else."""

    def __init__(self, width: int, height: int) -> None:
        self.pixels = np.zeros((0, 0, 4), np.uint8)
        self._words = self.pixels.view(_WORD)[..., 0]
        self._h = self._w = 0
        self.version = 0
        self.generation = 0
        self.resize(width, height)

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    def resize(self, width: int, height: int) -> None:
        """New size (the guest changed its resolution): black until painted."""
        pixels = np.zeros((height, width, 4), np.uint8)
        pixels[..., 3] = 255
        self.pixels = pixels
        self._words = pixels.view(_WORD)[..., 0]  # the same memory, one int per pixel
        self._h, self._w = height, width
        self.version += 1
        self.generation += 1

    def put(
        self, x: int, y: int, w: int, h: int, data: bytes | bytearray | memoryview, offset: int = 0
    ) -> None:
        """Raw pixels for one rectangle (clipped to the screen), read from
        *data* at *offset* (so a reader can pass its receive buffer: no copy)."""
        if w <= 0 or h <= 0:
            return
        src = np.frombuffer(data, _WORD, w * h, offset).reshape(h, w)
        x2, y2 = x + w, y + h
        if x2 > self._w or y2 > self._h:  # clip (rare: QEMU sends what fits)
            x2, y2 = min(x2, self._w), min(y2, self._h)
            if x2 <= x or y2 <= y:
                return
            src = src[: y2 - y, : x2 - x]
        # one pass: QEMU's pad byte is 0, the alpha we keep is 255
        np.bitwise_or(src, _OPAQUE, out=self._words[y:y2, x:x2])
        self.version += 1

    def fill(self, x: int, y: int, w: int, h: int, rgb: tuple[int, int, int]) -> None:
        self.pixels[y : y + h, x : x + w, :3] = rgb
        self.version += 1

    def copy(self) -> np.ndarray:
        return self.pixels.copy()


def encode_png(pixels: np.ndarray, compress_level: int = 6) -> bytes:
    """A PNG of an HxWx4 RGBA array (Pillow's encoder)."""
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels), "RGBA").save(
        out, "PNG", compress_level=compress_level
    )
    return out.getvalue()


def write_png_atomic(pixels: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Write a PNG so readers never see half a file (temp file + rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = encode_png(pixels)
    fd, tmp = tempfile.mkstemp(prefix=".preview-", suffix=".png", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
