"""The console widget's states and sizes in JupyterLab (real Chromium, real guests):
Fit scales a 720x400 guest up in a wide cell (width and height in sight), Crisp
by whole multiples, a paused VM says "paused", the full-screen button says
"Exit full screen" while it is, a stopped VM's console (kept open, or opened
afresh) shows its last frame at full size under a banner, and a deleted VM's
console says so and stops reconnecting."""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from support.jupyter import RunningServer
from support.notebooks import open_notebook, write_notebook

pytestmark = pytest.mark.vm


def _api(lab: RunningServer, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body if body is not None else {}).encode() if method != "GET" else None
    req = urllib.request.Request(f"{lab.url}kernelswitch/api/{path}", data=data, method=method)
    req.add_header("Authorization", f"token {lab.token}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=180) as r:
        return json.loads(r.read() or b"null")


def _box(page: Page, selector: str, index: int = 0) -> dict[str, float]:
    box = page.locator(selector).nth(index).bounding_box()
    assert box is not None, f"{selector} has no box"
    return box


def _run_cells(page: Page, count: int) -> None:
    cells = page.locator(".jp-NotebookPanel .jp-CodeCell")
    for i in range(count):
        cells.nth(i).locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")


def test_fit_pause_and_full_screen(
    browser: Any, lab: RunningServer, lab_root: Path, console_vm: dict, shots_dir: Path
) -> None:
    name = console_vm["name"]
    write_notebook(lab_root / "console-fit.ipynb", f"%load_ext kernelswitch\n%vm console {name}")
    context = browser.new_context(viewport={"width": 2000, "height": 1200})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        open_notebook(page, lab, "ks-console-fit", "console-fit.ipynb")
        _run_cells(page, 1)
        console = page.locator(".ks-console")
        expect(console).to_have_attribute("data-state", "connected", timeout=90_000)
        canvas = page.locator(".ks-console-canvas")
        expect(canvas).to_have_attribute("data-width", "720")
        # Fit: larger than 1:1 in a wide cell, and the whole screen in sight (height too)
        box = _box(page, ".ks-console-canvas")
        assert box["width"] > 1.4 * 720, box
        assert abs(box["width"] / box["height"] - 720 / 400) < 0.02, box
        console.scroll_into_view_if_needed()
        box = _box(page, ".ks-console-canvas")
        assert box["y"] + box["height"] <= 1200, f"the screen's foot is out of sight: {box}"
        page.screenshot(path=str(shots_dir / "console-fit-wide.png"))
        # Crisp: a whole multiple
        page.locator(".ks-console-scale").select_option("integer")
        expect(canvas).to_have_attribute("data-zoom", "2.000")
        page.locator(".ks-console-scale").select_option("fit")

        # paused shows as paused (the console link itself stays up)
        _api(lab, "POST", f"vms/{name}/suspend")
        expect(console).to_have_attribute("data-state", "paused", timeout=30_000)
        expect(page.locator(".ks-console-status")).to_have_text("paused")
        expect(page.locator(".ks-console-overlay")).to_have_text("The VM is paused")
        overlay, screen = _box(page, ".ks-console-overlay"), _box(page, ".ks-console-canvas")
        assert overlay["y"] + overlay["height"] <= screen["y"] + 1, "the banner covers the screen"
        page.screenshot(path=str(shots_dir / "console-paused.png"))
        _api(lab, "POST", f"vms/{name}/resume")
        expect(console).to_have_attribute("data-state", "connected", timeout=30_000)
        expect(page.locator(".ks-console-overlay")).to_be_hidden()

        # full screen says how to leave it, and the screen grows into it
        full = page.locator(".ks-console-fullscreen")
        expect(full).to_have_text("Full screen")
        before = _box(page, ".ks-console-canvas")
        full.click()
        expect(full).to_have_text("Exit full screen")
        page.wait_for_timeout(500)
        inside = _box(page, ".ks-console-canvas")
        assert inside["height"] > before["height"], (before, inside)
        page.screenshot(path=str(shots_dir / "console-fullscreen.png"))
        full.click()
        expect(full).to_have_text("Full screen")
    finally:
        context.close()


@pytest.fixture
def doomed_vm(lab: RunningServer) -> Iterator[dict[str, Any]]:
    """A running test-OS guest this test deletes (removed here if it did not)."""
    from vm.conftest import unique_name, wait_serial

    from kernelswitch._paths import testos_dir

    iso = Path(os.environ.get("KERNELSWITCH_TESTOS_DIR") or testos_dir()) / "testos-plain.iso"
    if not iso.is_file():
        pytest.fail(f"test OS image missing: {iso}; build it with `bash scripts/build-testos.sh`")
    name = unique_name("gone")
    info = _api(lab, "POST", "vms", {"name": name, "iso": str(iso), "os": "alpinelinux3.17",
                                     "memory": "256M", "disk": "1G", "cpus": 1})
    try:
        wait_serial(info["serial_log"])
        yield info
    finally:
        if name in [vm["name"] for vm in _api(lab, "GET", "vms")["vms"]]:
            _api(lab, "DELETE", f"vms/{name}?disks=1&force=1")


def test_stopped_then_deleted(
    page: Page, lab: RunningServer, lab_root: Path, doomed_vm: dict, shots_dir: Path
) -> None:
    name = doomed_vm["name"]
    page.set_viewport_size({"width": 1300, "height": 1000})
    write_notebook(
        lab_root / "console-gone.ipynb",
        f"%load_ext kernelswitch\n%vm console {name}",
        f"%vm console {name}",
    )
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url) if "/console" in ws.url else None)
    open_notebook(page, lab, "ks-console-gone", "console-gone.ipynb")
    _run_cells(page, 1)
    first = page.locator(".ks-console").first
    expect(first).to_have_attribute("data-state", "connected", timeout=90_000)
    expect(first).to_have_attribute("data-painted", re.compile(r"[1-9]"))

    # stopped: the last frame stays, full size, under a banner saying so
    _api(lab, "POST", f"vms/{name}/destroy")
    expect(first).to_have_attribute("data-state", "stopped", timeout=60_000)
    banner = first.locator(".ks-console-overlay")
    expect(banner).to_contain_text("Stopped: ")
    expect(banner).to_contain_text("is shut off; its last screen is shown. Start it to use it.")
    # a console opened on the stopped VM shows its last frame at full size
    cells = page.locator(".jp-NotebookPanel .jp-CodeCell")
    cells.nth(1).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    second = page.locator(".ks-console").nth(1)
    expect(second).to_have_attribute("data-state", "stopped", timeout=60_000)
    # its last frame (the kept preview, or the frame the server still holds)
    expect(second.locator(".ks-console-canvas")).to_have_attribute(
        "data-width", "720", timeout=30_000
    )
    box = _box(page, ".ks-console-canvas", 1)
    assert box["height"] > 300, f"the stopped VM's screen is {box['height']} px tall"
    banner = _box(page, ".ks-console-overlay", 1)
    assert banner["y"] + banner["height"] <= box["y"] + 1
    second.scroll_into_view_if_needed()
    page.screenshot(path=str(shots_dir / "console-stopped.png"))

    # deleted: both consoles say so, and nothing reconnects
    _api(lab, "DELETE", f"vms/{name}?disks=1")
    for c in (first, second):
        expect(c).to_have_attribute("data-state", "deleted", timeout=30_000)
        expect(c.locator(".ks-console-overlay")).to_contain_text(
            f"The VM was deleted: VM {name} no longer exists"
        )
    opened = len(sockets)
    page.wait_for_timeout(6000)
    assert len(sockets) == opened, f"{len(sockets) - opened} reconnects after the VM was deleted"
    page.screenshot(path=str(shots_dir / "console-deleted.png"))
