"""UI layer: JupyterLab in headless Chromium shows the kernelswitch sidebar."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect
from support.jupyter import RunningServer

SIDEBAR = "#kernelswitch-sidebar"
DEMO_ENV = "demo-env"  # made by the `lab` fixture (conftest.py)


def _open_lab(page: Page, lab: RunningServer, path: str = "lab") -> None:
    page.goto(f"{lab.url}{path}?token={lab.token}")
    expect(page.locator("#jupyterlab-splash")).to_have_count(0, timeout=90_000)
    expect(page.locator(".jp-LabShell")).to_be_visible()


def test_sidebar_lists_envs(page: Page, lab: RunningServer, shots_dir: Path) -> None:
    api: Any = lab.api("envs")
    names = [e["name"] or e["prefix"] for e in api["envs"]]
    assert DEMO_ENV in names, api

    _open_lab(page, lab)
    tab = page.locator(f'.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="{SIDEBAR[1:]}"]')
    expect(tab).to_have_count(1)
    expect(tab).to_have_attribute("title", "kernelswitch")
    tab.click()

    panel = page.locator(SIDEBAR)
    expect(panel).to_be_visible()
    expect(panel).to_have_attribute("data-state", "ready")
    rows = panel.locator(".ks-EnvPanel-env")
    expect(rows).to_have_count(len(api["envs"]))
    demo = panel.locator(".ks-EnvPanel-env", has_text=DEMO_ENV)
    expect(demo).to_have_count(1)
    # two lines: its name, then version · kind · mode · short path
    expect(demo.locator(".ks-EnvPanel-envMeta")).to_have_text(
        re.compile(r"^\d+\.\d+\.\d+ · venv · \w+ · .*demo-env$"))

    # Refresh rescans on the server and lands back on the same list.
    panel.locator(".ks-EnvPanel-refresh").click()
    expect(panel).to_have_attribute("data-state", "ready")
    expect(rows).to_have_count(len(api["envs"]))

    shot = shots_dir / "sidebar.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
