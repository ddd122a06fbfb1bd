"""Run All in JupyterLab (Chromium) through a cell with ``%pyenv switch``.

JupyterLab sends every cell's execute_request at once over its
``v1.kernel.websocket.jupyter.org`` websocket; the cells after the magic must
run in the new env, each show its output and its execution count (no cell
left at ``[*]``), and the kernel is never shown disconnected.
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect
from support.jupyter import RunningServer
from support.notebooks import WATCH_DISCONNECTED, open_notebook, write_notebook

DEMO_ENV = "demo-env"  # made by the `lab` fixture (conftest.py)
T = 60_000  # ms: a kernel start and a switch on a loaded 2-core machine


def test_run_all_through_a_switch(page: Page, lab: RunningServer, lab_root: Path) -> None:
    demo = lab_root.parent / "envs" / DEMO_ENV
    write_notebook(
        lab_root / "runall.ipynb",
        "%load_ext kernelswitch\na = 1",
        f"%pyenv switch {demo} --carry",
        "import sys; print('prefix=' + sys.prefix)",
        "print('after', a + 1)",
    )
    # a workspace of its own: the other browser tests never see this notebook
    notebook = open_notebook(page, lab, "ks-runall", "runall.ipynb")
    page.evaluate(WATCH_DISCONNECTED)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    cells = notebook.locator(".jp-CodeCell")
    expect(cells.nth(3).locator(".jp-OutputArea-output")).to_have_text("after 2\n", timeout=T)
    expect(cells.nth(2).locator(".jp-OutputArea-output")).to_have_text(f"prefix={demo}\n")
    expect(cells.nth(1).locator(".jp-OutputArea")).to_contain_text("switched to")
    for i in range(4):  # every cell got its reply: a number, not [*]
        expect(cells.nth(i).locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[\d+\]"))
    expect(page.locator("#jp-main-statusbar")).to_contain_text(re.compile(r"\| Idle"))
    assert page.evaluate("window.__ksDisconnected") == []
