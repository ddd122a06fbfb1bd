"""The EnvPicker widget in JupyterLab: discover - compare - apply (Chromium)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
from playwright.sync_api import Page, expect
from support.jupyter import RunningServer
from support.notebooks import open_notebook, write_notebook

#: ms for what waits on server work (resolve, compare, a kernel start) on a loaded machine
T = 30_000

DEMO_ENV = "demo-env"  # made by the `lab` fixture (conftest.py)


def test_picker_switches_its_kernel(
    page: Page, lab: RunningServer, lab_root: Path, tmp_path: Path
) -> None:
    api: Any = lab.api("envs")
    demo = next(e for e in api["envs"] if e["name"] == DEMO_ENV)
    write_notebook(
        lab_root / "picker-switch.ipynb",
        "from kernelswitch.widgets import EnvPicker\nEnvPicker()",
        "import sys; print('prefix=' + sys.prefix)",
    )
    notebook = open_notebook(page, lab, "ks-picker", "picker-switch.ipynb")
    cells = notebook.locator(".jp-CodeCell")
    cells.nth(0).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")
    picker = cells.nth(0).locator(".ks-picker")
    expect(picker).to_have_attribute("data-state", "ready", timeout=90_000)
    # where the kernel runs: the server's answer
    expect(picker).to_have_attribute("data-current", re.compile(r".+"), timeout=30_000)
    start = picker.get_attribute("data-current")
    assert start != demo["prefix"]
    expect(picker.locator(".ks-picker-legend")).to_contain_text("overlay")
    # a folder outside the server's roots, added on top of them
    elsewhere = tmp_path / "elsewhere"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(elsewhere / "far-env")],
                   check=True)
    picker.locator(".ks-picker-root").fill(str(elsewhere))
    picker.locator(".ks-picker-scanRoot").click()
    expect(picker.locator(f'.ks-picker-env[data-prefix="{elsewhere / "far-env"}"]')
           ).to_have_count(1, timeout=30_000)
    expect(picker.locator(f'.ks-picker-env[data-prefix="{demo["prefix"]}"]')).to_have_count(1)
    # the filter hides rows (they used to keep display:flex under `hidden`)
    shown = picker.locator(".ks-picker-env:visible")
    before = shown.count()
    picker.locator(".ks-picker-filter").fill("zzz")
    expect(shown).to_have_count(0)
    picker.locator(".ks-picker-filter").fill(DEMO_ENV)
    expect(shown).to_have_count(1)
    picker.locator(".ks-picker-filter").fill("")
    expect(shown).to_have_count(before)
    # the kernel's env first, marked; the server's env marked
    first = picker.locator('.ks-EnvList-group[data-group="current"] .ks-picker-env')
    expect(first).to_have_attribute("data-prefix", start or "")
    expect(first.locator(".ks-picker-serverBadge")).to_have_text("server")
    picker.locator(f'.ks-picker-env[data-prefix="{demo["prefix"]}"]').click()
    details = picker.locator(".ks-picker-details")
    expect(details).to_contain_text("overlay", timeout=T)
    # under the row the user clicked, with Apply and carry (on by default) next to it
    assert details.evaluate("d => d.previousElementSibling.dataset.prefix") == demo["prefix"]
    expect(details.locator(".ks-picker-carryBox")).to_be_checked()
    picker.locator(".ks-picker-apply").click()
    expect(picker.locator(".ks-picker-done")).to_be_visible(timeout=60_000)
    expect(picker.locator(".ks-picker-done")).to_contain_text(DEMO_ENV)
    expect(picker).to_have_attribute("data-current", demo["prefix"], timeout=T)
    cells.nth(1).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")
    expect(cells.nth(1).locator(".jp-OutputArea-output")).to_have_text(
        f"prefix={demo['prefix']}", timeout=60_000
    )
    # the notebook remembers where its kernel runs (kept for its next start)
    for _ in range(50):
        page.keyboard.press("Control+s")
        page.wait_for_timeout(300)
        saved = nbformat.read(lab_root / "picker-switch.ipynb", as_version=4)
        if saved.metadata.get("kernelswitch"):
            break
    assert saved.metadata["kernelswitch"]["env"]["prefix"] == demo["prefix"]
