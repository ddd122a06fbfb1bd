"""The env sidebar's layout at JupyterLab's default sidebar width (Chromium).

As VS Code's interpreter picker: the kernel's env first, then "Recommended"
(the env of the notebook's project), the usable envs by kind, the incompatible
ones folded at the end under a count; two lines per env; the server's env and
the system interpreter always there; JupyterLab's own inputs and buttons;
keyboard-navigable. The screenshot goes into the README (docs/images/) with ./dev screenshots.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from support.docs_images import shoot
from support.envui import PY312, box, open_with_sidebar, row, venv
from support.jupyter import RunningServer
from support.notebooks import write_notebook

#: Text of a placeholder against the room its input has: [needed px, available px].
PLACEHOLDER_FIT = """(el) => {
  const cs = getComputedStyle(el);
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = `${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
  return [ctx.measureText(el.placeholder).width,
          el.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight)];
}"""


def _groups(panel: Any) -> list[str]:
    return [
        g
        for g in panel.locator(".ks-EnvList-group").evaluate_all(
            "els => els.filter(e => !e.hidden).map(e => e.dataset.group)"
        )
    ]


@pytest.mark.screenshots
def test_grouped_layout_at_250px(
    page: Page, lab: RunningServer, lab_root: Path, shots_dir: Path
) -> None:
    envs = lab_root.parent / "envs"
    proj = lab_root / "proj-a"
    proj.mkdir()
    (proj / "pyproject.toml").write_text("[project]\nname = 'proj-a'\nversion = '0'\n")
    recommended = venv(proj / ".venv")
    other = venv(envs / "proj-b" / ".venv")  # same folder name: told apart by parent
    assert PY312.exists(), f"this test needs pyenv's Python 3.12 at {PY312}"
    old = venv(envs / "old-312", python=str(PY312))
    write_notebook(proj / "layout.ipynb", "import sys; print(sys.prefix)")

    _, panel = open_with_sidebar(page, lab, "ks-layout", "proj-a/layout.ipynb")
    width = box(panel)["width"]
    assert 240 <= width <= 260, f"the sidebar is {width} px wide, not JupyterLab's default"

    # current, recommended, kinds, incompatible last
    expect(row(panel, recommended)).to_have_count(1, timeout=30_000)
    expect(row(panel, old)).to_have_count(1, timeout=30_000)
    groups = _groups(panel)
    assert groups[0] == "current" and groups[1] == "recommended", groups
    assert groups[-1] == "incompatible", groups
    assert any(g.startswith("kind:") for g in groups), groups
    current = panel.locator('.ks-EnvList-group[data-group="current"] .ks-EnvPanel-env')
    expect(current).to_have_count(1)
    expect(current).to_have_attribute("data-prefix", sys.prefix)
    # the server's env is marked; the system interpreter is listed
    expect(current.locator(".ks-EnvPanel-serverBadge")).to_have_text("server")
    api: Any = lab.api("envs")
    system = [e for e in api["envs"] if e["kind"] == "system"]
    assert system, api
    expect(row(panel, system[0]["prefix"]).first).to_be_attached()
    rec = panel.locator('.ks-EnvList-group[data-group="recommended"] .ks-EnvPanel-env')
    expect(rec).to_have_attribute("data-prefix", str(recommended))
    expect(rec.locator(".ks-EnvPanel-envName")).to_have_text("proj-a/.venv")
    expect(row(panel, other).locator(".ks-EnvPanel-envName")).to_have_text("proj-b/.venv")
    # two lines: label, then version · kind · mode · short path
    expect(rec.locator(".ks-EnvPanel-envMeta")).to_have_text(
        re.compile(r"^\d+\.\d+\.\d+ · venv · overlay · .*proj-a/\.venv$")
    )
    for r in panel.locator(".ks-EnvPanel-env:visible").all():
        h = box(r)["height"]
        assert h <= 42, f"a row is {h} px high: more than two lines"
    # incompatible envs folded under a count
    toggle = panel.locator(".ks-EnvPanel-incompatibleToggle")
    expect(toggle).to_have_text(re.compile(r"Incompatible \(\d+\)"))
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(row(panel, old)).to_be_hidden()

    # JupyterLab's inputs and buttons; placeholders whole; the two path rows aligned
    for sel in (".ks-EnvPanel-filter", ".ks-EnvPanel-path", ".ks-EnvPanel-root"):
        field = panel.locator(sel)
        expect(field).to_have_class(re.compile("jp-mod-styled"))
        need, room = field.evaluate(PLACEHOLDER_FIT)
        assert need <= room, f"{sel}'s placeholder is cut: {need:.0f} px in {room:.0f} px"
    path, root = box(panel.locator(".ks-EnvPanel-path")), box(panel.locator(".ks-EnvPanel-root"))
    assert abs(path["x"] - root["x"]) < 1 and abs(path["width"] - root["width"]) < 1
    compare, scan = panel.locator(".ks-EnvPanel-usePath"), panel.locator(".ks-EnvPanel-addRoot")
    assert abs(box(compare)["x"] - box(scan)["x"]) < 1
    for button in (compare, scan):
        expect(button).to_have_class(re.compile("jp-Button"))
        expect(button).to_be_enabled()
        assert button.evaluate("b => getComputedStyle(b).opacity") == "1"
        right = box(button)["x"] + box(button)["width"]
        assert right <= box(panel)["x"] + width, "a button sticks out of the sidebar"
    # no CLI command names inside the sidebar
    text = panel.inner_text()
    assert "%pyenv" not in text and "--carry" not in text, text

    # keyboard: Tab reaches the list, arrows move, Enter compares under the row
    first = current
    first.focus()
    page.keyboard.press("ArrowDown")
    focused = page.evaluate("document.activeElement.dataset.prefix")
    assert focused == str(recommended), focused
    expect(rec).to_have_attribute("aria-label", re.compile("proj-a/.venv"))
    page.keyboard.press("Enter")
    details = panel.locator(".ks-EnvPanel-details")
    expect(details.locator(".ks-EnvPanel-apply")).to_be_visible(timeout=30_000)
    assert details.evaluate("d => d.previousElementSibling.dataset.prefix") == str(recommended)
    for step in ("compare", "align", "apply"):
        expect(details.locator(f'[data-step="{step}"]')).to_be_visible()
    expect(panel.locator(".ks-EnvPanel-steps li")).to_have_text(
        ["Discover", "Compare", "Align", "Apply"]
    )

    # the folded group opens on a click
    toggle.click()
    expect(row(panel, old)).to_be_visible()
    expect(row(panel, old)).to_have_class(re.compile("ks-mod-incompatible"))
    toggle.click()

    page.set_viewport_size({"width": 1280, "height": 1000})  # the whole sidebar in the shot
    panel.evaluate("p => { p.scrollTop = 0; }")
    page.wait_for_timeout(300)
    shot = shoot(panel, shots_dir, "env-sidebar.png")  # the README's, with ./dev screenshots
    assert shot.stat().st_size > 5_000


def test_filter_hides_rows(page: Page, lab: RunningServer, lab_root: Path) -> None:
    write_notebook(lab_root / "filter.ipynb", "1")
    _, panel = open_with_sidebar(page, lab, "ks-filter", "filter.ipynb")
    rows = panel.locator(".ks-EnvPanel-env:visible")
    expect(rows.first).to_be_visible()
    before = rows.count()
    panel.locator(".ks-EnvPanel-filter").fill("zzz")
    expect(rows).to_have_count(0)
    expect(panel.locator(".ks-EnvList-group:visible")).to_have_count(0)
    panel.locator(".ks-EnvPanel-filter").fill("demo")
    expect(panel.locator(".ks-EnvPanel-env:visible", has_text="demo-env")).to_have_count(1)
    expect(rows).to_have_count(1)
    panel.locator(".ks-EnvPanel-filter").fill("")
    expect(rows).to_have_count(before)
