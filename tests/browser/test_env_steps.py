"""Compare, apply and what the user sees of them in the env sidebar (Chromium).

Each test is one finding of issue 16 that the old sidebar failed: the
comparison opened 1,000+ px below the click; Apply dropped the variables
without a word; Ctrl+S right after a switch saved the old env; compare and
switch spoke two vocabularies; a saved env that was gone was replaced silently.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat
from playwright.sync_api import Page, expect
from support.envui import box, open_with_sidebar, row, run_cell, venv
from support.jupyter import RunningServer
from support.notebooks import write_notebook

#: ms for what waits on server work (resolve, compare, a kernel start) on a loaded machine
T = 30_000
DEMO_ENV = "demo-env"  # made by the `lab` fixture (conftest.py)


def _demo(lab: RunningServer) -> dict[str, Any]:
    api: Any = lab.api("envs")
    return next(e for e in api["envs"] if e["name"] == DEMO_ENV)


def _in_view(panel: Any, target: Any) -> None:
    """``target`` is inside the sidebar's visible area."""
    p, t = box(panel), box(target)
    assert p["y"] <= t["y"] and t["y"] + t["height"] <= p["y"] + p["height"], (p, t)


def test_compare_opens_under_the_click(
    page: Page, lab: RunningServer, lab_root: Path, shots_dir: Path
) -> None:
    envs = lab_root.parent / "envs"
    many = [venv(envs / f"many-{i:02d}") for i in range(10)]  # a list longer than the sidebar
    write_notebook(lab_root / "under.ipynb", "1")
    _, panel = open_with_sidebar(page, lab, "ks-under", "under.ipynb")
    last = row(panel, many[-1])
    expect(last).to_have_count(1, timeout=T)
    last.scroll_into_view_if_needed()
    last.click()
    details = panel.locator(".ks-EnvPanel-details")
    apply = details.locator(".ks-EnvPanel-apply")
    expect(apply).to_be_visible(timeout=T)
    # right under the row, expanding in place, and in sight with Apply next to it
    assert details.evaluate("d => d.previousElementSibling.dataset.prefix") == str(many[-1])
    _in_view(panel, apply)
    _in_view(panel, last)
    assert box(apply)["y"] - box(last)["y"] < 400
    page.screenshot(path=str(shots_dir / "env-compare-under-row.png"))
    # picked again: it folds
    last.click()
    expect(apply).to_have_count(0)

    # a typed path: the comparison opens under the path field
    panel.locator(".ks-EnvPanel-path").fill(str(many[0]))
    panel.locator(".ks-EnvPanel-usePath").click()
    expect(apply).to_be_visible(timeout=T)
    assert details.evaluate("d => d.parentElement.className").endswith("pathAnchor")
    _in_view(panel, apply)
    _in_view(panel, panel.locator(".ks-EnvPanel-path"))
    assert box(apply)["y"] - box(panel.locator(".ks-EnvPanel-path"))["y"] < 500


def test_apply_carries_variables_and_says_what_it_did(
    page: Page, lab: RunningServer, lab_root: Path, shots_dir: Path
) -> None:
    demo = _demo(lab)
    write_notebook(
        lab_root / "carry.ipynb",
        "import numpy as np\narr = np.arange(5)\nx = 42\ngen = (i for i in range(3))",
        "import sys; print('prefix=' + sys.prefix, x, arr.sum(), np.__name__)",
    )
    notebook, panel = open_with_sidebar(page, lab, "ks-carry", "carry.ipynb")
    run_cell(page, notebook, 0)
    expect(notebook.locator(".jp-CodeCell").nth(0).locator(".jp-InputPrompt")).to_contain_text(
        "[1]", timeout=60_000
    )
    row(panel, demo["prefix"]).click()
    details = panel.locator(".ks-EnvPanel-details")
    # one vocabulary: an overlay target's packages come "from the server"
    comparison = details.locator(".ks-EnvPanel-comparison")
    expect(comparison).to_contain_text("from the server", timeout=T)
    assert not re.search(r"\blost\b|[Bb]reaks|cannot pickle", comparison.inner_text())
    carry = details.locator(".ks-EnvPanel-carryBox")
    expect(carry).to_be_checked()  # on by default
    details.locator(".ks-EnvPanel-apply").click()
    expect(details.locator(".ks-EnvPanel-done")).to_contain_text(DEMO_ENV, timeout=60_000)
    expect(details.locator(".ks-EnvPanel-carried")).to_contain_text("arr")
    expect(details.locator(".ks-EnvPanel-carried")).to_contain_text("x")
    expect(details.locator(".ks-EnvPanel-reimported")).to_contain_text("np")
    not_carried = details.locator(".ks-EnvPanel-notCarried")
    expect(not_carried).to_contain_text("gen")
    assert "—" in not_carried.inner_text()  # each with its reason
    assert "not carried" not in details.locator(".ks-EnvPanel-reimported").inner_text()
    _in_view(panel, details.locator(".ks-EnvPanel-done"))
    page.screenshot(path=str(shots_dir / "env-carried.png"))
    out = run_cell(page, notebook, 1)
    expect(out).to_have_text(f"prefix={demo['prefix']} 42 10 numpy", timeout=60_000)
    assert page.evaluate("window.__ksDisconnected") == []

    # picking another env later drops the old result: no stale "Now running in"
    panel.locator(".ks-EnvPanel-env:visible").nth(1).click()
    expect(details.locator(".ks-EnvPanel-done")).to_have_count(0)


def test_ctrl_s_right_after_apply_keeps_the_choice(
    page: Page, lab: RunningServer, lab_root: Path
) -> None:
    """The switch's answer is held back: the save must already have the env."""
    demo = _demo(lab)
    path = lab_root / "save-now.ipynb"
    write_notebook(path, "1")
    notebook, panel = open_with_sidebar(page, lab, "ks-save-now", "save-now.ipynb")
    held: list[Any] = []
    pattern = re.compile(r"/kernelswitch/api/kernels/[^/]+/env$")

    def hold(route: Any) -> None:
        if route.request.method == "POST":
            held.append(route)
        else:
            route.continue_()

    page.route(pattern, hold)
    try:
        row(panel, demo["prefix"]).click()
        panel.locator(".ks-EnvPanel-apply").click(timeout=T)
        expect(panel.locator(".ks-EnvPanel-switching")).to_be_visible()
        notebook.click()
        page.keyboard.press("Control+s")
        for _ in range(100):
            saved = nbformat.read(path, as_version=4)
            if saved.metadata.get("kernelswitch"):
                break
            page.wait_for_timeout(200)
        assert held, "the switch was never asked for"
        assert saved.metadata["kernelswitch"]["env"]["prefix"] == demo["prefix"]
    finally:
        for route in held:
            route.continue_()
        page.unroute(pattern)
    expect(panel.locator(".ks-EnvPanel-done")).to_be_visible(timeout=60_000)


def test_a_missing_saved_env_is_said(page: Page, lab: RunningServer, lab_root: Path) -> None:
    gone = lab_root.parent / "gone-env"  # never made: the env the notebook was saved with
    path = lab_root / "gone.ipynb"
    write_notebook(path, "import sys; print(sys.prefix)")
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelswitch"] = {
        "env": {
            "prefix": str(gone),
            "executable": f"{gone}/bin/python",
            "name": "gone-env",
            "version": "3.11.2",
        }
    }
    nbformat.write(nb, path)
    _, panel = open_with_sidebar(page, lab, "ks-gone", "gone.ipynb")
    toast = page.locator(".Toastify__toast", has_text="gone-env")
    expect(toast).to_have_count(1, timeout=T)
    expect(toast).to_contain_text("no longer exists")
    expect(toast).to_contain_text(str(gone))
    note = panel.locator(".ks-EnvPanel-missing")
    expect(note).to_contain_text(str(gone))
    expect(note).to_contain_text("no longer exists")


def test_ctrl_s_right_after_pyenv_switch_keeps_it(
    page: Page, lab: RunningServer, lab_root: Path
) -> None:
    """The magic switches when its cell ends; the first save after that writes the new env."""
    demo = _demo(lab)
    path = lab_root / "magic-save.ipynb"
    write_notebook(path, f"%load_ext kernelswitch\n%pyenv switch {demo['prefix']}")
    notebook, panel = open_with_sidebar(page, lab, "ks-magic-save", "magic-save.ipynb")
    before = path.stat().st_mtime_ns
    run_cell(page, notebook, 0)
    prompt = notebook.locator(".jp-CodeCell").nth(0).locator(".jp-InputPrompt")
    expect(prompt).to_contain_text("[1]", timeout=60_000)
    page.keyboard.press("Control+s")  # right after: no second chance
    for _ in range(100):
        if path.stat().st_mtime_ns != before:
            break
        page.wait_for_timeout(100)
    page.wait_for_timeout(300)  # the write itself
    saved = nbformat.read(path, as_version=4)
    assert saved.metadata.get("kernelswitch", {}).get("env", {}).get("prefix") == demo["prefix"]
    expect(panel).to_have_attribute("data-current", demo["prefix"], timeout=T)


def test_a_vanished_interpreter_folds_live(page: Page, lab: RunningServer, lab_root: Path) -> None:
    """An env whose interpreter is deleted moves to the folded incompatible group
    with the reason, without a refresh."""
    doomed = venv(lab_root.parent / "envs" / "doomed-env")
    write_notebook(lab_root / "vanish.ipynb", "1")
    _, panel = open_with_sidebar(page, lab, "ks-vanish", "vanish.ipynb")
    env_row = row(panel, doomed)
    expect(env_row).to_have_class(re.compile("ks-mod-overlay"), timeout=T)
    for exe in (doomed / "bin").glob("python*"):
        exe.unlink()
    expect(env_row).to_be_hidden(timeout=T)  # folded away with the incompatible ones
    panel.locator(".ks-EnvPanel-incompatibleToggle").click()
    expect(env_row).to_have_class(re.compile("ks-mod-error"))
    expect(env_row.locator(".ks-EnvPanel-envError")).to_contain_text("interpreter is missing")
