"""The sidebar switches the open notebook's kernel in JupyterLab (Chromium).

Discover - compare - apply: the list marks where the kernel runs, a click
shows the comparison, Apply switches; the next cell runs in the new env and
the kernel is never shown disconnected. A broken target warns once and the
sidebar goes back to the env the kernel runs in. Reopening the notebook
restores its env (notebook metadata ``kernelswitch.env``).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import nbformat
from playwright.sync_api import Page, expect
from support.jupyter import RunningServer
from support.notebooks import WATCH_DISCONNECTED, open_notebook, write_notebook

#: ms for what waits on server work (resolve, compare, a kernel start) on a loaded machine
T = 30_000

DEMO_ENV = "demo-env"  # made by the `lab` fixture (conftest.py)
SIDEBAR = "#kernelswitch-sidebar"


def _write_notebook(path: Path) -> None:
    write_notebook(path, "import sys; print('prefix=' + sys.prefix)")


def _open(page: Page, lab: RunningServer, name: str, workspace: str = "ks-switch") -> Any:
    # a workspace of its own: the other browser tests never see this notebook
    notebook = open_notebook(page, lab, workspace, name)
    page.evaluate(WATCH_DISCONNECTED)
    tab = page.locator(f'.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="{SIDEBAR[1:]}"]')
    if "lm-mod-current" not in (tab.get_attribute("class") or ""):
        tab.click()
    panel = page.locator(SIDEBAR)
    expect(panel).to_have_attribute("data-state", "ready", timeout=60_000)
    return notebook, panel


def _run_first_cell(page: Page, notebook: Any) -> Any:
    cell = notebook.locator(".jp-CodeCell").first
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")
    return cell.locator(".jp-OutputArea-output")


def _open_incompatible(panel: Any) -> None:
    """The incompatible envs are folded under a count: open them."""
    toggle = panel.locator(".ks-EnvPanel-incompatibleToggle")
    if toggle.get_attribute("aria-expanded") == "false":
        toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")


def _dying_env(base: Path) -> Path:
    env = base / "dying-env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    exe = env / "bin" / "python"
    exe.unlink()
    exe.write_text("#!/bin/sh\nexit 3\n")
    exe.chmod(0o755)
    return env


def _api(lab: RunningServer, method: str, path: str) -> Any:
    req = urllib.request.Request(f"{lab.url}{path}", method=method)
    req.add_header("Authorization", f"token {lab.token}")
    with urllib.request.urlopen(req, timeout=60) as r:
        body = r.read()
        return json.loads(body) if body else None


def test_sidebar_switches_the_notebook_kernel(
    page: Page, lab: RunningServer, lab_root: Path, tmp_path: Path, shots_dir: Path
) -> None:
    api: Any = lab.api("envs")
    demo = next(e for e in api["envs"] if e["name"] == DEMO_ENV)
    _write_notebook(lab_root / "switch.ipynb")
    notebook, panel = _open(page, lab, "switch.ipynb")

    # discover: the kernel's env is marked
    expect(panel.locator(".ks-EnvPanel-kernel")).to_contain_text("runs in", timeout=30_000)
    start = panel.get_attribute("data-current")
    assert start and start != demo["prefix"]
    expect(panel.locator(".ks-mod-current")).to_have_count(1, timeout=T)

    # the list is live: a venv made under a scanned root shows without a refresh
    fresh = lab_root.parent / "envs" / "fresh-env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(fresh)], check=True)
    expect(panel.locator(f'.ks-EnvPanel-env[data-prefix="{fresh}"]')).to_have_count(
        1, timeout=20_000
    )

    # an incompatible env (another Python, no ipykernel) is greyed and offers the
    # install, showing the exact command before anything runs
    py312 = Path.home() / ".pyenv" / "versions" / "3.12.1" / "bin" / "python"
    assert py312.exists(), f"this test needs pyenv's Python 3.12 at {py312}"
    other = lab_root.parent / "envs" / "py312-env"
    subprocess.run([str(py312), "-m", "venv", "--without-pip", str(other)], check=True)
    row = panel.locator(f'.ks-EnvPanel-env[data-prefix="{other}"]')
    expect(row).to_have_class(re.compile("ks-mod-incompatible"), timeout=20_000)
    _open_incompatible(panel)
    row.locator(".ks-EnvPanel-install").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text(f"--python {other}/bin/python install", timeout=T)
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    assert not list(other.glob("lib/python*/site-packages/ipykernel"))

    # compare: selecting shows what changes; apply: switch
    panel.locator(f'.ks-EnvPanel-env[data-prefix="{demo["prefix"]}"]').click()
    expect(panel.locator(".ks-EnvPanel-comparison")).to_contain_text("overlay", timeout=T)
    expect(panel.locator(".ks-EnvPanel-comparison")).to_contain_text("Python ")
    panel.locator(".ks-EnvPanel-apply").click()
    expect(panel.locator(".ks-EnvPanel-done")).to_be_visible(timeout=60_000)
    expect(panel).to_have_attribute("data-current", demo["prefix"], timeout=T)
    page.screenshot(path=str(shots_dir / "sidebar-switched.png"))

    # the next cell runs in the new env
    out = _run_first_cell(page, notebook)
    expect(out).to_have_text(f"prefix={demo['prefix']}", timeout=60_000)

    # a broken target: one warning, and the sidebar goes back to the truth
    dying = _dying_env(tmp_path)
    panel.locator(".ks-EnvPanel-path").fill(str(dying))
    panel.locator(".ks-EnvPanel-usePath").click()
    panel.locator(".ks-EnvPanel-apply").click()
    expect(panel.locator(".ks-EnvPanel-warning")).to_contain_text("exited with code 3",
                                                                  timeout=60_000)
    toasts = page.locator(".Toastify__toast", has_text="Switch failed")
    expect(toasts).to_have_count(1)
    expect(panel).to_have_attribute("data-current", demo["prefix"], timeout=T)
    expect(panel.locator(".ks-EnvPanel-env.ks-mod-selected")).to_have_attribute(
        "data-prefix", demo["prefix"]
    )
    out = _run_first_cell(page, notebook)
    expect(out).to_have_text(f"prefix={demo['prefix']}", timeout=60_000)
    assert page.evaluate("window.__ksDisconnected") == []

    # reopening the notebook restores its env (saved in its metadata)
    page.keyboard.press("Control+s")
    for _ in range(50):
        saved = nbformat.read(lab_root / "switch.ipynb", as_version=4)
        if saved.metadata.get("kernelswitch"):
            break
        page.wait_for_timeout(200)
    assert saved.metadata["kernelswitch"]["env"]["prefix"] == demo["prefix"]
    for s in _api(lab, "GET", "api/sessions"):
        _api(lab, "DELETE", f"api/sessions/{s['id']}")
    page.goto("about:blank")
    notebook, panel = _open(page, lab, "switch.ipynb")
    expect(panel).to_have_attribute("data-current", demo["prefix"], timeout=30_000)
    out = _run_first_cell(page, notebook)
    expect(out).to_have_text(f"prefix={demo['prefix']}", timeout=60_000)


def test_without_an_answer_in_2_s_the_kernel_says_where_it_runs(
    page: Page, lab: RunningServer, lab_root: Path
) -> None:
    """The server's word on where a kernel runs is held back: after 2 s the
    sidebar and the picker show the kernel's own sys.prefix, and say so."""
    held: list[Any] = []
    pattern = re.compile(r"/kernelswitch/api/kernels/[^/]+/env(\?.*)?$")

    def hold(route: Any) -> None:
        if route.request.method == "GET":
            held.append(route)  # answered only at the end of the test
        else:
            route.continue_()

    page.route(pattern, hold)
    write_notebook(lab_root / "fallback.ipynb",
                   "from kernelswitch.widgets import EnvPicker\nEnvPicker()")
    try:
        notebook, panel = _open(page, lab, "fallback.ipynb", workspace="ks-fallback")
        kernel_prefix = sys.prefix  # the lab's kernels run in the server's env
        expect(panel).to_have_attribute("data-current", kernel_prefix, timeout=T)
        expect(panel).to_have_attribute("data-current-source", "kernel")
        expect(panel.locator(".ks-EnvPanel-kernel")).to_contain_text(
            "the server did not answer in time")
        _run_first_cell(page, notebook)
        picker = notebook.locator(".ks-picker")
        expect(picker).to_have_attribute("data-state", "ready", timeout=90_000)
        expect(picker).to_have_attribute("data-current", kernel_prefix, timeout=T)
        expect(picker).to_have_attribute("data-current-source", "kernel")
        assert held, "the server's answer was never asked for"
    finally:
        for route in held:
            route.abort()
        page.unroute(pattern)


def test_sidebar_installs_ipykernel_then_switches(
    page: Page, lab: RunningServer, lab_root: Path
) -> None:
    """An incompatible env (another Python, no ipykernel): the sidebar shows the
    exact command, runs pip for real once the user confirms, shows its output,
    and the env, now native, takes the notebook's kernel."""
    py312 = Path.home() / ".pyenv" / "versions" / "3.12.1" / "bin" / "python"
    assert py312.exists(), f"this test needs pyenv's Python 3.12 at {py312}"
    other = lab_root.parent / "envs" / "py312-install"
    subprocess.run([str(py312), "-m", "venv", "--without-pip", str(other)], check=True)
    _write_notebook(lab_root / "install.ipynb")
    notebook, panel = _open(page, lab, "install.ipynb", workspace="ks-install")
    row = panel.locator(f'.ks-EnvPanel-env[data-prefix="{other}"]')
    expect(row).to_have_class(re.compile("ks-mod-incompatible"), timeout=T)
    _open_incompatible(panel)
    row.locator(".ks-EnvPanel-install").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text(f"--python {other}/bin/python install", timeout=T)
    dialog.get_by_role("button", name="Install").click()
    expect(panel.locator(".ks-EnvPanel-installing")).to_contain_text("Running: ")
    expect(panel.locator(".ks-EnvPanel-done")).to_contain_text("is now native",
                                                               timeout=600_000)
    expect(panel.locator(".ks-EnvPanel-output")).to_contain_text("Successfully installed")
    assert list(other.glob("lib/python3.12/site-packages/ipykernel"))
    expect(row).to_have_class(re.compile("ks-mod-native"), timeout=T)
    row.click()
    expect(panel.locator(".ks-EnvPanel-comparison")).to_contain_text("native", timeout=T)
    panel.locator(".ks-EnvPanel-apply").click()
    expect(panel.locator(".ks-EnvPanel-done")).to_be_visible(timeout=60_000)
    expect(panel).to_have_attribute("data-current", str(other), timeout=T)
    out = _run_first_cell(page, notebook)
    expect(out).to_have_text(f"prefix={other}", timeout=60_000)
    # the kernel indicator (toolbar, status bar) names the env, and the saved
    # notebook's language_info is the new Python's
    title = re.compile(r"Python 3\.12 · py312-install")
    expect(page.locator(".jp-NotebookPanel-toolbar .jp-Toolbar-kernelName")).to_have_text(title)
    expect(page.locator("#jp-main-statusbar")).to_contain_text(title)
    page.keyboard.press("Control+s")
    for _ in range(50):
        saved = nbformat.read(lab_root / "install.ipynb", as_version=4)
        if saved.metadata.get("language_info", {}).get("version", "").startswith("3.12"):
            break
        page.wait_for_timeout(200)
    assert saved.metadata["language_info"]["version"].startswith("3.12"), saved.metadata
