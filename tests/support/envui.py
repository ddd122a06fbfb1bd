"""The env sidebar in the browser tests: open a notebook with it, run cells, read layout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from .notebooks import WATCH_DISCONNECTED, open_notebook

SIDEBAR = "#kernelswitch-sidebar"
#: pyenv's Python 3.12: a venv of it has another Python than the server's (incompatible)
PY312 = Path.home() / ".pyenv" / "versions" / "3.12.1" / "bin" / "python"


def venv(path: Path, *extra: str, python: str = sys.executable) -> Path:
    """A real venv (no pip unless ``--upgrade-deps``/no ``--without-pip`` is asked)."""
    subprocess.run(
        [python, "-m", "venv", *(extra or ("--without-pip",)), str(path)],
        check=True,
        capture_output=True,
    )
    return path


def open_with_sidebar(page: Any, lab: Any, workspace: str, name: str) -> tuple[Any, Any]:
    """Open notebook ``name`` in its own workspace, show the env sidebar; (notebook, panel)."""
    notebook = open_notebook(page, lab, workspace, name)
    page.evaluate(WATCH_DISCONNECTED)
    tab = page.locator(f'.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="{SIDEBAR[1:]}"]')
    if "lm-mod-current" not in (tab.get_attribute("class") or ""):
        tab.click()
    panel = page.locator(SIDEBAR)
    expect(panel).to_have_attribute("data-state", "ready", timeout=60_000)
    expect(panel.locator(".ks-EnvPanel-kernel")).to_contain_text("runs in", timeout=30_000)
    return notebook, panel


def run_cell(page: Any, notebook: Any, n: int = 0) -> Any:
    """Run code cell ``n``; its output area's locator."""
    cell = notebook.locator(".jp-CodeCell").nth(n)
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")
    return cell.locator(".jp-OutputArea-output")


def row(panel: Any, prefix: Path | str) -> Any:
    return panel.locator(f'.ks-EnvPanel-env[data-prefix="{prefix}"]')


def box(locator: Any) -> dict[str, float]:
    b = locator.bounding_box()
    assert b is not None, f"{locator} is not laid out"
    return dict(b)
