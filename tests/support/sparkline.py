"""Whether a live stats graph has really been drawn, judged from its pixels.

An idle VM's graphs are flat lines near zero; a graph can carry the right
``points`` and still look empty (a line on the box's bottom edge, clipped or
too faint). This reads a screenshot of the graph as a person would: the
columns where a pixel stands out strongly from the box's background.
"""

from __future__ import annotations

import io
import time
from typing import Any

#: Sum of |R|+|G|+|B| differences from the background that a person sees as
#: a line (JupyterLab's brand blue on its light grey is ~360; the faint area
#: fill under the line is ~90).
LINE_CONTRAST = 150


def drawn_columns(png: bytes, span: float | None = None) -> tuple[int, int]:
    """(columns with a clearly visible line pixel, image width) of a graph's PNG;
    with *span*, only among its rightmost *span* px (where the samples are)."""
    import numpy as np
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    flat = rgb.reshape(-1, 3)
    colours, counts = np.unique(flat, axis=0, return_counts=True)
    background = colours[counts.argmax()]
    contrast = np.abs(rgb - background).sum(axis=2)
    width = rgb.shape[1]
    first = 0 if span is None else max(0, int(width - span))
    return int((contrast[:, first:] >= LINE_CONTRAST).any(axis=0).sum()), width


def assert_line_visible(spark: Any, slots: int = 60, samples: int = 10) -> None:
    """The graph *spark* (a ``.ks-spark`` locator) shows its first line across the
    span its samples cover (newest on the right, *slots* samples wide), once it
    has *samples* of them (about one a second)."""
    line = spark.locator("polyline.ks-spark-line").first
    deadline = time.monotonic() + samples * 3 + 10
    points = (line.get_attribute("points") or "").split()
    while len(points) < samples and time.monotonic() < deadline:
        spark.page.wait_for_timeout(500)
        points = (line.get_attribute("points") or "").split()
    assert len(points) >= samples, f"the graph got {len(points)} samples, not {samples}"
    png = spark.locator("svg").screenshot()
    width = spark.locator("svg").bounding_box()["width"]
    span = width * max(len(points) - 1, 1) / (slots - 1)
    drawn, _ = drawn_columns(png, span)
    assert drawn >= 0.8 * span, (
        f"the line is not visible: {drawn} of {width} px columns drawn, "
        f"{len(points)} samples should cover ~{span:.0f} px"
    )
