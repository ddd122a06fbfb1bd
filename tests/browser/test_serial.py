"""The serial terminal widget in JupyterLab (real Chromium, the shared test-OS guest):
``%vm serial NAME`` shows xterm.js on the serial websocket; keys typed in it run
in the guest's serial shell and the answer shows in the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect
from support.jupyter import RunningServer
from support.notebooks import open_notebook, write_notebook


def test_serial_terminal_types_and_shows_the_answer(
    browser: Any, lab: RunningServer, lab_root: Path, console_vm: dict, shots_dir: Path
) -> None:
    name = console_vm["name"]
    write_notebook(lab_root / "serial.ipynb", f"%load_ext kernelswitch\n%vm serial {name}")
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        notebook = open_notebook(page, lab, "ks-serial", "serial.ipynb")
        notebook.locator(".jp-CodeCell").first.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        term = page.locator(".ks-serial")
        expect(term).to_have_attribute("data-state", "connected", timeout=90_000)
        # the recent output came first: the guest's boot marker is on screen
        rows = term.locator(".xterm-rows")
        expect(rows).to_contain_text("KERNELSWITCH-TESTOS-READY", timeout=30_000)
        cells = page.locator(".jp-CodeCell").count()
        term.locator(".xterm-screen").click()
        page.keyboard.type("\n")
        page.keyboard.type("echo $((12 * 12))ab\n")  # 'a', 'b' would add cells in Lab
        expect(rows).to_contain_text("144ab", timeout=60_000)  # the answer, not the typed line
        expect(page.locator(".jp-CodeCell")).to_have_count(cells)
    finally:
        page.locator(".ks-serial").first.scroll_into_view_if_needed()
        page.screenshot(path=str(shots_dir / "serial-terminal.png"))
        context.close()
