"""The first screenshot on a fresh server shows the guest's screen, not black:
the console answers only once QEMU painted the whole screen (issue 18)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.jupyter import jupyter_server

ARGS = ["--ServerApp.jpserver_extensions={'kernelswitch': True}"]


def _lit_pixels(png: bytes) -> int:
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    return int(np.count_nonzero(pixels.max(axis=-1) > 32))


def test_first_rest_screenshot_is_not_black(console_vm: dict, tmp_path: Path) -> None:
    from kernelswitch.kernelside.client import Server, fetch

    with jupyter_server(tmp_path, extra_args=ARGS) as srv:
        png, _ = fetch("GET", f"vms/{console_vm['name']}/screenshot",
                       server=Server(srv.url, srv.token))  # fmt: skip
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert _lit_pixels(png) > 200, "the first screenshot of a fresh server is black"


def test_first_console_screenshot_is_not_black(
    console_vm: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with jupyter_server(tmp_path, extra_args=ARGS) as srv:
        monkeypatch.setenv("KERNELSWITCH_URL", srv.url)
        monkeypatch.setenv("KERNELSWITCH_TOKEN", srv.token)
        from kernelswitch.widgets import Console

        c: Any = Console(console_vm["name"])
        try:
            assert c.screenshot(tmp_path / "shot.png") is None  # nothing to print
            png = (tmp_path / "shot.png").read_bytes()
        finally:
            c.close()
    assert _lit_pixels(png) > 200, "Console.screenshot() on a fresh server is black"
