"""'New environment…' in the sidebar (issue 20), in JupyterLab (Chromium):
the form, the output streaming in, the new env listed and selected (its
kernel pre-started), Apply, and a cell running in it — in that same process."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect
from support.jupyter import RunningServer
from support.notebooks import WATCH_DISCONNECTED, open_notebook, write_notebook

SIDEBAR = "#kernelswitch-sidebar"


def _api(lab: RunningServer, path: str) -> Any:
    req = urllib.request.Request(f"{lab.url}{path}")
    req.add_header("Authorization", f"token {lab.token}")
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def test_new_environment_from_the_sidebar(page: Page, lab: RunningServer, lab_root: Path,
                                          shots_dir: Path) -> None:
    write_notebook(lab_root / "newenv.ipynb",
                   "import os, sys; print(f'prefix={sys.prefix} pid={os.getpid()}')")
    notebook = open_notebook(page, lab, "ks-newenv", "newenv.ipynb")
    page.evaluate(WATCH_DISCONNECTED)
    tab = page.locator(f'.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="{SIDEBAR[1:]}"]')
    if "lm-mod-current" not in (tab.get_attribute("class") or ""):
        tab.click()
    panel = page.locator(SIDEBAR)
    expect(panel).to_have_attribute("data-state", "ready", timeout=60_000)
    expect(panel.locator(".ks-EnvPanel-kernel")).to_contain_text("runs in", timeout=30_000)

    panel.locator(".ks-EnvPanel-newEnv").click()
    form = panel.locator(".ks-NewEnv-form")
    expect(form).to_be_visible(timeout=30_000)
    path = form.locator(".ks-NewEnv-path")
    expect(path).to_have_value(".venv")  # next to the notebook
    path.fill("made-here")
    python = form.locator(".ks-NewEnv-python")
    # the Pythons on this machine, the kernel's major.minor first chosen
    expect(python.locator("option", has_text="(pyenv)").first).to_be_attached()
    expect(python.locator("option", has_text="3.11.2 (system)")).to_have_count(1)
    python.select_option(label="3.11.2 (system)")
    panel.screenshot(path=str(shots_dir / "sidebar-new-env-form.png"))
    for box in (form.locator(".ks-NewEnv-create"), python, path):
        b = box.bounding_box()
        p = panel.bounding_box()
        assert b and p and b["x"] + b["width"] <= p["x"] + p["width"] + 1, "out of sight"
    form.locator(".ks-NewEnv-create").click()
    expect(panel.locator(".ks-NewEnv-status")).to_contain_text("Step", timeout=30_000)
    done = panel.locator(".ks-NewEnv-done")
    expect(done).to_contain_text("made-here (Python 3.11.2, native)", timeout=600_000)
    made = lab_root / "made-here"

    # listed and selected: the comparison is open and its kernel pre-starts
    row = panel.locator(f'.ks-EnvPanel-env[data-prefix="{made}"]')
    expect(row).to_have_class(re.compile("ks-mod-selected"), timeout=30_000)
    apply = panel.locator(".ks-EnvPanel-apply")
    expect(apply).to_be_visible(timeout=30_000)
    panel.screenshot(path=str(shots_dir / "sidebar-new-env-made.png"))
    kid = _api(lab, "api/sessions")
    kid = next(s["kernel"]["id"] for s in kid if s["path"].endswith("newenv.ipynb"))
    for _ in range(300):
        cand = _api(lab, f"kernelswitch/api/kernels/{kid}/candidate")["candidate"]
        if cand and cand["state"] == "ready":
            break
        page.wait_for_timeout(200)
    assert cand and cand["state"] == "ready" and cand["target"]["prefix"] == str(made), cand

    apply.click()
    expect(panel).to_have_attribute("data-current", str(made), timeout=60_000)
    cell = notebook.locator(".jp-CodeCell").first
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")
    out = cell.locator(".jp-OutputArea-output")
    expect(out).to_have_text(f"prefix={made} pid={cand['pid']}", timeout=60_000)
    assert page.evaluate("window.__ksDisconnected") == []


def test_picker_selection_prestarts_and_apply_uses_it(page: Page, lab: RunningServer,
                                                      lab_root: Path) -> None:
    demo = next(e for e in _api(lab, "kernelswitch/api/envs")["envs"] if e["name"] == "demo-env")
    write_notebook(lab_root / "picker-prestart.ipynb",
                   "from kernelswitch.widgets import EnvPicker\nEnvPicker()",
                   "import os, sys; print(f'prefix={sys.prefix} pid={os.getpid()}')")
    notebook = open_notebook(page, lab, "ks-picker-prestart", "picker-prestart.ipynb")
    cells = notebook.locator(".jp-CodeCell")
    cells.nth(0).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")
    picker = cells.nth(0).locator(".ks-picker")
    expect(picker).to_have_attribute("data-state", "ready", timeout=90_000)
    expect(picker).to_have_attribute("data-current", re.compile(r".+"), timeout=30_000)
    picker.locator(f'.ks-picker-env[data-prefix="{demo["prefix"]}"]').click()
    expect(picker.locator(".ks-picker-details")).to_contain_text("overlay", timeout=30_000)
    sessions = _api(lab, "api/sessions")
    kid = next(s["kernel"]["id"] for s in sessions if s["path"].endswith("picker-prestart.ipynb"))
    for _ in range(300):
        cand = _api(lab, f"kernelswitch/api/kernels/{kid}/candidate")["candidate"]
        if cand and cand["state"] == "ready":
            break
        page.wait_for_timeout(200)
    assert cand and cand["target"]["prefix"] == demo["prefix"] and cand["state"] == "ready"
    picker.locator(".ks-picker-apply").click()
    expect(picker).to_have_attribute("data-current", demo["prefix"], timeout=60_000)
    cells.nth(1).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")
    expect(cells.nth(1).locator(".jp-OutputArea-output")).to_have_text(
        f"prefix={demo['prefix']} pid={cand['pid']}", timeout=60_000)
