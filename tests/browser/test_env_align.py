"""Align, the third step, end to end in the sidebar (Chromium, the package index).

A native venv (its own ipykernel) lacks a package the notebook imports: the
comparison says so, Align shows the exact command, runs it on Run with its
output streaming in, the comparison then finds nothing missing, and after
Apply the cell runs in that env.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from playwright.sync_api import Page, expect
from support.envui import open_with_sidebar, row, run_cell, venv
from support.jupyter import RunningServer
from support.notebooks import write_notebook

T = 30_000
#: a small pure-Python package the server's env has and a fresh venv does not
PACKAGE, VERSION = "defusedxml", "0.7.1"


def test_align_installs_what_the_notebook_imports(
    page: Page, lab: RunningServer, lab_root: Path, shots_dir: Path
) -> None:
    target = venv(lab_root.parent / "envs" / "align-env", "--clear")  # with pip
    pip = subprocess.run(
        [str(target / "bin" / "python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", "ipykernel"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr
    assert not list(target.glob(f"lib/python*/site-packages/{PACKAGE}"))
    write_notebook(
        lab_root / "align.ipynb",
        f"import {PACKAGE}, sys\nprint('aligned', {PACKAGE}.__version__, sys.prefix)",
    )
    notebook, panel = open_with_sidebar(page, lab, "ks-align", "align.ipynb")
    env_row = row(panel, target)
    expect(env_row).to_have_class(re.compile("ks-mod-native"), timeout=T)
    env_row.click()
    details = panel.locator(".ks-EnvPanel-details")
    expect(details.locator(".ks-EnvPanel-missingImports")).to_contain_text(PACKAGE, timeout=T)
    details.locator(".ks-EnvPanel-align").click()
    command = details.locator(".ks-EnvPanel-alignCommand")
    expect(command).to_contain_text(f"{PACKAGE}=={VERSION}", timeout=T)
    expect(command).to_contain_text(str(target))
    assert not list(target.glob(f"lib/python*/site-packages/{PACKAGE}")), "ran before Run"
    page.screenshot(path=str(shots_dir / "env-align-plan.png"))
    details.locator(".ks-EnvPanel-alignRun").click()
    # the output streams in, the comparison is made again and finds nothing missing
    expect(details.locator(".ks-EnvPanel-aligned")).to_be_visible(timeout=300_000)
    expect(details.locator(".ks-EnvPanel-missingImports")).to_have_count(0)
    log = details.locator(".ks-EnvPanel-alignLog")
    expect(log).to_contain_text(f"Installed {PACKAGE}")
    log.locator("summary").click()
    expect(log.locator(".ks-EnvPanel-alignOutput")).to_contain_text(PACKAGE)
    assert list(target.glob(f"lib/python*/site-packages/{PACKAGE}"))
    page.screenshot(path=str(shots_dir / "env-aligned.png"))
    details.locator(".ks-EnvPanel-apply").click()
    expect(details.locator(".ks-EnvPanel-done")).to_be_visible(timeout=60_000)
    out = run_cell(page, notebook)
    expect(out).to_have_text(f"aligned {VERSION} {target}", timeout=60_000)
