"""Screenshots for the README (docs/images/), taken by the browser tests.

Every browser screenshot goes to the cache (``shots_dir``); with
``KERNELSWITCH_DOCS_IMAGES=1`` (what ``./dev screenshots`` sets) the ones
named here are also written to ``docs/images/``, reduced to a 256-colour PNG
so each stays under the README's 150 KB budget.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DOCS_IMAGES = REPO / "docs" / "images"
#: Largest PNG the README carries (issue #17).
MAX_BYTES = 150 * 1024


def wanted() -> bool:
    return os.environ.get("KERNELSWITCH_DOCS_IMAGES", "") not in ("", "0")


def shoot(page: Any, shots_dir: Path, name: str, **options: Any) -> Path:
    """Screenshot *page* as ``name`` into the cache, and into docs/images when asked."""
    path = shots_dir / name
    page.screenshot(path=str(path), **options)
    if wanted():
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        out = DOCS_IMAGES / name
        out.write_bytes(small_png(path.read_bytes()))
        size = out.stat().st_size
        assert size <= MAX_BYTES, f"{out} is {size // 1024} KB, over {MAX_BYTES // 1024} KB"
    return path


def small_png(data: bytes) -> bytes:
    """*data* (a PNG) as a palette PNG: UI screenshots have few colours."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        pal = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=0)
        buf = io.BytesIO()
        pal.save(buf, format="PNG", optimize=True)
    return buf.getvalue()
