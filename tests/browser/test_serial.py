"""The serial terminal in JupyterLab (real Chromium, the shared test-OS guest):
``%vm serial NAME`` in a notebook, and a main-area tab opened from the VM
sidebar, show xterm.js on the serial websocket; keys typed in it run in the
guest's serial shell and the answer shows in the terminal."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from playwright.sync_api import expect
from support.jupyter import RunningServer
from support.lab_shell import open_vm_sidebar, wait_saved
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


def test_serial_tab_from_the_vm_sidebar(
    browser: Any, lab: RunningServer, console_vm: dict, shots_dir: Path
) -> None:
    """The VM sidebar's row opens the serial terminal in a main-area tab (on the
    VM's host: ``?uri=``); what is typed runs in the guest; a reload restores
    the tab; closing it closes its websocket."""
    name = console_vm["name"]
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(60_000)
    sockets: list[Any] = []
    page.on("websocket", lambda ws: sockets.append(ws) if "/serial" in ws.url else None)
    try:
        sidebar = open_vm_sidebar(page, lab, "ks-serialtab")
        row = sidebar.locator(f'.ks-VMSidebar-vm[data-ks-vm="{name}"]')
        expect(row).to_have_attribute("data-state", "running", timeout=30_000)
        uri = row.get_attribute("data-uri") or ""
        button = row.get_by_role("button", name=f"Serial terminal {name}")
        expect(button).to_be_enabled()
        button.click()
        tab = page.locator(f'.ks-SerialTab[data-vm="{name}"]')
        term = tab.locator(".ks-serial")
        expect(term).to_have_attribute("data-state", "connected", timeout=90_000)
        title = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
        expect(title).to_contain_text(f"{name} serial — Running")
        assert sockets and f"uri={quote(uri, safe='')}" in sockets[-1].url, sockets[-1].url
        rows = term.locator(".xterm-rows")
        term.locator(".xterm-screen").click()
        page.keyboard.type("\n")
        page.keyboard.type("echo $((21 * 2))tab\n")
        expect(rows).to_contain_text("42tab", timeout=60_000)  # the answer, not the typed line
        # the terminal has the tab's room and is in sight
        box, screen = tab.bounding_box(), term.locator(".xterm-screen").bounding_box()
        assert box and screen and screen["width"] > 400 and screen["y"] < box["y"] + box["height"]
        assert rows.locator(":scope > div").count() > 24, "the terminal does not fill the tab"
        assert screen["y"] + screen["height"] <= box["y"] + box["height"] + 1, "rows out of sight"
        page.screenshot(path=str(shots_dir / "serial-tab.png"))

        # the right-click menu offers it too (and it brings the open tab forward)
        row.click(button="right")
        menu = page.locator(".lm-Menu").last
        menu.locator(".lm-Menu-item", has_text="Serial terminal").click()
        expect(page.locator(".ks-SerialTab")).to_have_count(1)

        # a reload restores the tab, on the same host, connected again
        before = len(sockets)
        wait_saved(lab, page, f"kernelswitch-serial:{name}@{uri}")
        page.reload()
        term = page.locator(f'.ks-SerialTab[data-vm="{name}"] .ks-serial')
        expect(term).to_have_attribute("data-state", "connected", timeout=90_000)
        expect(page.locator(f'.ks-SerialTab[data-vm="{name}"]')).to_have_attribute("data-uri", uri)

        # closing the tab closes its websocket
        live = [ws for ws in sockets[before:] if not ws.is_closed()]
        assert live, "the restored tab has no serial websocket"
        page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=f"{name} serial").locator(
            ".lm-TabBar-tabCloseIcon"
        ).click()
        expect(page.locator(".ks-SerialTab")).to_have_count(0)
        deadline = time.monotonic() + 10
        while any(not ws.is_closed() for ws in live) and time.monotonic() < deadline:
            page.wait_for_timeout(100)
        assert all(ws.is_closed() for ws in live), "the serial websocket outlived its tab"
    finally:
        context.close()
