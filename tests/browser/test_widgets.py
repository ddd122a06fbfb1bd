"""Notebook widgets in JupyterLab: the EnvPicker renders the server's envs and syncs back."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect
from support.jupyter import RunningServer
from support.notebooks import open_notebook, write_notebook

DEMO_ENV = "demo-env"  # made by the `lab` fixture (conftest.py)


def _write_notebook(path: Path) -> None:
    write_notebook(
        path,
        "from kernelswitch.widgets import EnvPicker\npicker = EnvPicker()\npicker",
        'print("selected:", picker.selected)',
    )


def test_env_picker_renders_and_selects(
    page: Page, lab: RunningServer, lab_root: Path, shots_dir: Path
) -> None:
    api: Any = lab.api("envs")
    demo_prefix = next(e["prefix"] for e in api["envs"] if e["name"] == DEMO_ENV)
    _write_notebook(lab_root / "picker.ipynb")

    # a workspace of its own: no layout left by earlier tests is restored over it
    notebook = open_notebook(page, lab, "ks-widgets", "picker.ipynb")
    cells = notebook.locator(".jp-CodeCell")
    expect(cells).to_have_count(2)

    cells.nth(0).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    picker = cells.nth(0).locator(".ks-picker")
    expect(picker).to_have_attribute("data-state", "ready", timeout=90_000)
    expect(picker.locator(".ks-picker-env")).to_have_count(len(api["envs"]))
    row = picker.locator(f'.ks-picker-env[data-prefix="{demo_prefix}"]')
    row.click()
    expect(row).to_have_class(re.compile(r"\bks-mod-selected\b"))
    expect(row).to_have_attribute("aria-selected", "true")
    row.scroll_into_view_if_needed()
    page.screenshot(path=str(shots_dir / "env-picker.png"))

    # The click reached the kernel: the Python side sees the selection.
    cells.nth(1).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    expect(cells.nth(1).locator(".jp-OutputArea-output")).to_have_text(
        f"selected: {demo_prefix}", timeout=60_000
    )
