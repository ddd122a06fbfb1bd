"""Scrolling text reaches the browser as copies of rows it already has, and the
canvas still equals the server's framebuffer pixel for pixel (real guest, real
Chromium, the console widget's own decoder)."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Page, expect
from support.jupyter import RunningServer
from support.notebooks import open_notebook, write_notebook
from test_console import canvas, framebuffer, wait_serial


def _typed(page: Page, text: str) -> None:
    box = page.locator(".ks-console .ks-console-typebox").first
    box.fill(text)
    box.press("Enter")  # types the text, then Enter


def _exactly_the_framebuffer(page: Page, lab: RunningServer, name: str) -> None:
    """Every pixel equal (the guest's cursor is hidden, nothing else moves)."""
    diff = -1
    for _ in range(60):
        fb, shown = framebuffer(lab, name), canvas(page, 0)
        if shown.shape == fb.shape:
            diff = int((shown != fb).any(axis=2).sum())
            if diff == 0:
                return
        time.sleep(0.25)
    pytest.fail(f"canvas != framebuffer: {diff} pixels differ ({shown.shape} vs {fb.shape})")


def test_scrolling_is_copied_and_the_canvas_is_the_framebuffer(
    browser: Any, lab: RunningServer, lab_root: Path, console_vm: dict, shots_dir: Path
) -> None:
    name = console_vm["name"]
    write_notebook(
        lab_root / "scroll.ipynb",
        f"from kernelswitch.widgets import Console\nConsole({name!r}, scale='1:1')",
    )
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    kinds: list[int] = []  # the data encoding of every update the page received

    def on_socket(ws: Any) -> None:
        if "/console" in ws.url:
            ws.on("framereceived", lambda p: isinstance(p, bytes) and p[0] == 1
                  and kinds.append(p[1]))  # fmt: skip

    page.on("websocket", on_socket)
    try:
        notebook = open_notebook(page, lab, "ks-scroll", "scroll.ipynb")
        notebook.locator(".jp-CodeCell").first.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        console = page.locator(".ks-console")
        expect(console).to_have_attribute("data-state", "connected", timeout=90_000)
        # no blinking cursor: then nothing on the screen moves once the scrolling ends
        _typed(page, "clear; printf '\\033[?25l'")
        token = f"SCROLLED-{secrets.token_hex(3)}"
        before = len(kinds)
        _typed(page, f"i=0; while [ $i -lt 12 ]; do ls -l /bin; i=$((i+1)); done; "
                     f"echo {token} > /dev/ttyS0")  # fmt: skip
        wait_serial(console_vm, token + "\n", timeout=120)
        _exactly_the_framebuffer(page, lab, name)
        scrolled = kinds[before:]
        assert scrolled.count(3) >= 5, f"copies in {scrolled.count(3)} of {len(scrolled)} updates"
        page.screenshot(path=str(shots_dir / "console-scrolled.png"))
        # a reverse scroll too: `clear` then text from the top, and a full screen again
        _typed(page, "clear; ls /bin | head -5")
        time.sleep(2.0)
        _exactly_the_framebuffer(page, lab, name)
        shown = canvas(page, 0)
        assert np.unique(shown.reshape(-1, 4), axis=0).shape[0] >= 2  # text, not blank
    finally:
        # the shared guest as the other tests find it: cursor on, a screen of text
        _typed(page, "printf '\\033[?25h'; clear; ls -l /bin | head -30")
        page.wait_for_function(  # typed and shown before this viewer goes
            """() => { const c = document.querySelector('.ks-console canvas');
                       const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                       let n = 0; for (let i = 0; i < d.length; i += 4) n += d[i] > 128 ? 1 : 0;
                       return n > 5000; }""",
            timeout=60_000,
        )
        context.close()
