"""``kernelswitch.widgets.Console``'s Python API with no browser: a real
jupyter_server subprocess, the shared guest, calls over REST."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.jupyter import RunningServer, jupyter_server

from .conftest import wait_serial_line


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("console-api")
    args = ["--ServerApp.jpserver_extensions={'kernelswitch': True}"]
    with jupyter_server(root, extra_args=args) as srv:
        yield srv


@pytest.fixture
def console(server: RunningServer, console_vm: dict, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("KERNELSWITCH_URL", server.url)
    monkeypatch.setenv("KERNELSWITCH_TOKEN", server.token)
    from kernelswitch.widgets import Console

    c = Console(console_vm["name"])
    yield c
    c.close()


def test_frame_screenshot_type_press(console: Any, console_vm: dict, tmp_path: Path) -> None:
    from PIL import Image

    from kernelswitch.kernelside.client import APIError

    frame = console.frame
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 4
    assert frame.shape[1] >= 720
    assert console.screenshot(tmp_path / "shot.png") is None  # a cell's last line prints nothing
    assert Image.open(tmp_path / "shot.png").size == (frame.shape[1], frame.shape[0])
    png = console.screenshot()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"

    token = f"PY-{secrets.token_hex(3)}_Q"
    console.type(f"echo {token} > /dev/ttyS0\n")
    wait_serial_line(console_vm, token)
    with pytest.raises(APIError, match="unknown key 'hyper'"):
        console.press("ctrl+hyper")
    with pytest.raises(APIError, match="cannot type"):
        console.type("\u00e9")


def test_wait_for_change_match_and_timeout(console: Any) -> None:
    from kernelswitch.widgets import ConsoleTimeout

    def later() -> None:
        time.sleep(1.0)
        console.type("echo wait-for-me\n")

    t = threading.Thread(target=later)
    t.start()
    changed = console.wait_for(timeout=30)
    t.join()
    assert changed.ndim == 3
    region = (0, 0, 64, 16)
    part = console.frame[0:16, 0:64]
    assert console.wait_for(region, image=part, timeout=5).shape == changed.shape
    with pytest.raises(ConsoleTimeout, match="did not come to match"):
        console.wait_for(region, image=255 - part, timeout=1.0)
    with pytest.raises(ConsoleTimeout, match="did not come to change"):
        console.wait_for((0, 0, 1, 1), timeout=1.0)


def test_wait_for_stable_ignores_the_blinking_cursor(console: Any) -> None:
    """An idle text console (its cursor blinking) is stable; a typed line is a
    change; output still scrolling is not stable."""
    from kernelswitch.widgets import ConsoleTimeout

    t0 = time.monotonic()
    console.wait_for(stable=2.0, timeout=30)
    assert time.monotonic() - t0 < 20
    with pytest.raises(ConsoleTimeout, match="did not come to change"):
        console.wait_for(timeout=3.0)  # only the cursor blinks meanwhile
    console.type("i=0; while [ $i -lt 40 ]; do echo tick $i; i=$((i+1)); sleep 0.3; done\n")
    with pytest.raises(ConsoleTimeout, match="stay unchanged for 3 s"):
        console.wait_for(stable=3.0, timeout=5.0)
    h, w = console.frame.shape[:2]
    # the whole screen ignored: nothing can change, so it is stable at once
    assert console.wait_for(stable=0.5, ignore=[(0, 0, w, h)], timeout=5).ndim == 3
    console.wait_for(stable=2.0, timeout=60)  # the loop ends, the screen settles
