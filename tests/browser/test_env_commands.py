"""The env sidebar's actions as JupyterLab commands, its keys, and Apply in reach (Chromium).

Every action of the sidebar is a command: listed in the command palette under
"Python environments", offered by an env row's context menu, bound to the keys
a JupyterLab list has (Enter opens, Accel+Enter runs, Escape closes). At the
default 250 px sidebar, with an Align plan open, Apply and "Carry variables"
stay in sight and clickable (a sticky bar at the bottom of the box).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect
from support.envui import box, open_with_sidebar, row, venv
from support.jupyter import RunningServer
from support.notebooks import write_notebook

T = 30_000
#: the venv the `lab` fixture makes in its env root
DEMO_ENV = "demo-env"
CATEGORY = "Python environments"
#: imports the server's env has and a fresh venv lacks: a long Align plan
IMPORTS = ["defusedxml", "idna", "certifi", "attr", "yaml", "jinja2", "bs4", "sortedcontainers"]

#: True when the centre of the element is inside the scroll area of the
#: sidebar and the element itself (or a child) is what is drawn there.
IN_REACH = """(el) => {
  const panel = el.closest('.ks-EnvPanel');
  const b = el.getBoundingClientRect(), p = panel.getBoundingClientRect();
  const x = b.left + b.width / 2, y = b.top + b.height / 2;
  const top = document.elementFromPoint(x, y);
  return {
    inside: b.top >= p.top && b.bottom <= p.top + panel.clientHeight &&
            b.left >= p.left && b.right <= p.left + panel.clientWidth,
    onTop: !!top && (top === el || el.contains(top) || top.contains(el) && top.tagName === 'LABEL'),
    box: [b.top, b.bottom, p.top, p.top + panel.clientHeight]
  };
}"""


def _palette(page: Page, text: str) -> Any:
    """Open the command palette filtered by *text*; its locator."""
    page.keyboard.press("Control+Shift+C")
    palette = page.locator(".lm-CommandPalette")
    expect(palette).to_be_visible()
    palette.locator(".lm-CommandPalette-input").fill(text)
    return palette


def _palette_item(palette: Any, label: str) -> Any:
    return palette.locator(".lm-CommandPalette-item").filter(
        has=palette.page.locator(
            ".lm-CommandPalette-itemLabel", has_text=re.compile(f"^{re.escape(label)}$")
        )
    )


def _menu_item(page: Page, label: str) -> Any:
    menu = page.locator(".lm-Menu").last
    expect(menu).to_be_visible()
    return menu.locator(".lm-Menu-item").filter(
        has=page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(label)}$"))
    )


def _focused_prefix(page: Page) -> str | None:
    return page.evaluate("document.activeElement && document.activeElement.dataset.prefix")


def _assert_in_reach(locator: Any, what: str) -> None:
    r = locator.evaluate(IN_REACH)
    assert r["inside"], f"{what} is out of the sidebar's visible area: {r['box']}"
    assert r["onTop"], f"{what} is covered by something else"


def test_commands_in_palette_and_row_menu(
    page: Page, lab: RunningServer, lab_root: Path, shots_dir: Path
) -> None:
    write_notebook(lab_root / "commands.ipynb", "import sys; print(sys.prefix)")
    _, panel = open_with_sidebar(page, lab, "ks-commands", "commands.ipynb")
    demo = row(panel, lab_root.parent / "envs" / DEMO_ENV)
    expect(demo).to_be_visible(timeout=T)

    # the palette lists the sidebar's commands under their own category
    palette = _palette(page, "")
    headers = palette.locator(".lm-CommandPalette-header")
    expect(headers.filter(has_text=re.compile(f"^{CATEGORY}$", re.I))).to_have_count(1)
    palette.locator(".lm-CommandPalette-input").fill("environment")
    for label in ("Compare an Environment with the Kernel's", "New Environment…",
                  "Refresh Environments", "Reveal the Kernel's Environment",
                  "Switch Kernel to the Compared Environment"):  # fmt: skip
        expect(_palette_item(palette, label)).to_have_count(1)
    # nothing compared yet: Apply is disabled (JupyterLab's palette hides it), no Align
    expect(_palette_item(palette, "Switch Kernel to the Compared Environment")).to_have_class(
        re.compile("lm-mod-disabled")
    )
    expect(palette.locator(".lm-CommandPalette-item", has_text="Align")).to_have_count(0)
    page.screenshot(path=str(shots_dir / "env-commands-palette.png"))
    page.keyboard.press("Escape")

    # Reveal from the palette opens the folded sidebar, the kernel's row has the keyboard
    tab = page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="kernelswitch-sidebar"]')
    tab.click()
    expect(panel).to_be_hidden()
    _palette_item(_palette(page, "Reveal"), "Reveal the Kernel's Environment").click()
    expect(panel).to_be_visible()
    page.wait_for_function(f"document.activeElement?.dataset?.prefix === {sys.prefix!r}")

    # Refresh from the palette rescans
    with page.expect_request(re.compile(r"kernelswitch/api/envs\?.*refresh=1")):
        _palette_item(_palette(page, "Refresh"), "Refresh Environments").click()

    # an env row's context menu: compare, switch, and the sidebar's general actions
    demo.click(button="right")
    for label in ("Compare with the Kernel's Environment", f"Switch Kernel to {DEMO_ENV}",
                  "Reveal the Kernel's Environment", "New Environment…",
                  "Refresh Environments"):  # fmt: skip
        expect(_menu_item(page, label)).to_be_visible()
    expect(_menu_item(page, "Install ipykernel…")).to_be_hidden()  # demo-env can run a kernel
    page.screenshot(path=str(shots_dir / "env-commands-menu.png"))
    _menu_item(page, "Compare with the Kernel's Environment").click()
    details = panel.locator(".ks-EnvPanel-details")
    expect(details.locator(".ks-EnvPanel-apply")).to_be_visible(timeout=T)
    assert details.evaluate("d => d.previousElementSibling.dataset.prefix") == str(
        lab_root.parent / "envs" / DEMO_ENV
    )
    # with a comparison open the palette's Apply names its target and is enabled
    palette = _palette(page, "Switch Kernel")
    expect(_palette_item(palette, f"Switch Kernel to {DEMO_ENV}")).not_to_have_class(
        re.compile("lm-mod-disabled")
    )
    page.keyboard.press("Escape")

    # New environment… from the palette opens its form in the sidebar
    _palette_item(_palette(page, "New Environment"), "New Environment…").click()
    form = panel.locator(".ks-NewEnv-form")
    expect(form).to_be_visible(timeout=T)
    expect(form.locator(".ks-NewEnv-path")).to_be_focused()
    page.screenshot(path=str(shots_dir / "env-commands-newenv.png"))
    panel.locator(".ks-EnvPanel-newEnv").click()  # the button runs the same command: toggles
    expect(form).to_have_count(0)

    # an env that cannot run a kernel: its menu offers ipykernel, Switch is disabled
    panel.locator(".ks-EnvPanel-incompatibleToggle").click()
    lacking = panel.locator(
        '.ks-EnvList-group[data-group="incompatible"] .ks-EnvPanel-env:has(.ks-EnvPanel-install)'
    ).first
    expect(lacking).to_be_visible()
    lacking.click(button="right")
    expect(_menu_item(page, "Install ipykernel…")).to_be_visible()
    switch = page.locator(".lm-Menu").last.locator(".lm-Menu-item", has_text="Switch Kernel to")
    expect(switch).to_have_class(re.compile("lm-mod-disabled"))
    page.keyboard.press("Escape")
    panel.locator(".ks-EnvPanel-incompatibleToggle").click()

    # Switch from the row's menu: the result shows under that row, the kernel moved
    demo.click(button="right")
    _menu_item(page, f"Switch Kernel to {DEMO_ENV}").click()
    expect(details.locator(".ks-EnvPanel-done")).to_be_visible(timeout=60_000)
    expect(panel.locator(".ks-EnvPanel-kernel")).to_contain_text(DEMO_ENV, timeout=T)
    expect(panel).to_have_attribute("data-current", str(lab_root.parent / "envs" / DEMO_ENV))


def test_keyboard_flow(page: Page, lab: RunningServer, lab_root: Path, shots_dir: Path) -> None:
    write_notebook(lab_root / "keys.ipynb", "import sys; print(sys.prefix)")
    _, panel = open_with_sidebar(page, lab, "ks-keys", "keys.ipynb")
    target = str(lab_root.parent / "envs" / DEMO_ENV)
    expect(row(panel, target)).to_be_visible(timeout=T)

    # the palette's Compare with nothing picked puts the keyboard in the filter
    _palette_item(_palette(page, "Compare an"), "Compare an Environment with the Kernel's").click()
    filt = panel.locator(".ks-EnvPanel-filter")
    expect(filt).to_be_focused()
    page.keyboard.type(DEMO_ENV)
    expect(panel.locator(".ks-EnvPanel-env:visible")).to_have_count(1)
    page.keyboard.press("ArrowDown")  # from the filter into the list
    assert _focused_prefix(page) == target

    # Enter compares under the row; Escape closes and gives the row the keyboard back
    details = panel.locator(".ks-EnvPanel-details")
    page.keyboard.press("Enter")
    expect(details.locator(".ks-EnvPanel-apply")).to_be_visible(timeout=T)
    assert details.evaluate("d => d.previousElementSibling.dataset.prefix") == target
    page.keyboard.press("Escape")
    expect(details.locator(".ks-EnvPanel-comparison")).to_have_count(0)
    assert _focused_prefix(page) == target
    # Shift+F10 opens the focused row's menu, for that row
    page.keyboard.press("Shift+F10")
    expect(_menu_item(page, f"Switch Kernel to {DEMO_ENV}")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator(".lm-Menu")).to_have_count(0)
    row(panel, target).focus()
    page.keyboard.press("Enter")
    expect(details.locator(".ks-EnvPanel-apply")).to_be_visible(timeout=T)
    # Tab reaches the box's controls: the carry box toggles with Space
    carry = details.locator(".ks-EnvPanel-carryBox")
    carry.focus()
    page.keyboard.press("Space")
    expect(carry).not_to_be_checked()
    page.keyboard.press("Space")
    expect(carry).to_be_checked()
    page.screenshot(path=str(shots_dir / "env-keys-compare.png"))

    # Accel+Enter on the row switches to its env
    row(panel, target).focus()
    page.keyboard.press("Control+Enter")
    expect(details.locator(".ks-EnvPanel-done")).to_be_visible(timeout=60_000)
    expect(panel).to_have_attribute("data-current", target, timeout=T)
    # the filter still shows only demo-env; Reveal clears it to show the kernel's row
    filt.fill("zzz")
    expect(panel.locator(".ks-EnvPanel-env:visible")).to_have_count(0)
    _palette_item(_palette(page, "Reveal"), "Reveal the Kernel's Environment").click()
    page.wait_for_function(f"document.activeElement?.dataset?.prefix === {target!r}")
    expect(filt).to_have_value("")


def test_apply_in_reach_with_align_open_at_250px(
    page: Page, lab: RunningServer, lab_root: Path, shots_dir: Path
) -> None:
    target = venv(lab_root.parent / "envs" / "reach-env", "--clear")  # with pip
    pip = subprocess.run(
        [str(target / "bin" / "python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", "ipykernel"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr
    write_notebook(lab_root / "reach.ipynb", f"import {', '.join(IMPORTS)}")
    page.set_viewport_size({"width": 1280, "height": 720})  # a laptop's screen
    _, panel = open_with_sidebar(page, lab, "ks-reach", "reach.ipynb")
    width = box(panel)["width"]
    assert 240 <= width <= 260, f"the sidebar is {width} px wide, not JupyterLab's default"
    env_row = row(panel, target)
    expect(env_row).to_have_class(re.compile("ks-mod-native"), timeout=T)
    env_row.click()
    details = panel.locator(".ks-EnvPanel-details")
    expect(details.locator(".ks-EnvPanel-missingImports")).to_contain_text("defusedxml", timeout=T)

    # Align from the row's context menu (the open comparison's row offers it)
    env_row.click(button="right")
    _menu_item(page, "Align: Install What the Notebook Imports…").click()
    command = details.locator(".ks-EnvPanel-alignCommand")
    expect(command).to_contain_text("defusedxml", timeout=T)
    expect(details.locator(".ks-EnvPanel-align")).to_be_hidden()  # the plan replaces it
    run = details.locator(".ks-EnvPanel-alignRun")
    apply = details.locator(".ks-EnvPanel-apply")
    carry = details.locator(".ks-EnvPanel-carryBox")
    page.wait_for_timeout(300)  # the plan's scroll into view
    page.screenshot(path=str(shots_dir / "env-align-open-250.png"))
    _assert_in_reach(run, "Align's Run button")
    _assert_in_reach(apply, "Apply")
    _assert_in_reach(carry, "the Carry variables box")

    # scrolled so the row is at the top: the plan runs past the fold, Apply stays in sight
    env_row.evaluate("r => r.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(200)
    bar = details.locator(".ks-EnvPanel-actions")
    assert box(details)["y"] + box(details)["height"] > box(panel)["y"] + box(panel)["height"], (
        "the box fits anyway: this test no longer shows the fold"
    )
    page.screenshot(path=str(shots_dir / "env-align-open-250-top.png"))
    _assert_in_reach(apply, "Apply (box scrolled to its top)")
    _assert_in_reach(carry, "the Carry variables box (box scrolled to its top)")
    b, d = box(bar), box(details.locator(".ks-Steps"))
    assert d["x"] <= b["x"] and b["x"] + b["width"] <= d["x"] + d["width"], (b, d)
    # both look enabled, line up, and take a click
    expect(apply).to_be_enabled()
    assert apply.evaluate("b => getComputedStyle(b).opacity") == "1"
    a, c = box(apply), box(carry)
    assert abs((a["y"] + a["height"] / 2) - (c["y"] + c["height"] / 2)) < 3, (a, c)
    assert a["x"] + a["width"] <= box(panel)["x"] + width, "Apply sticks out of the sidebar"
    carry.click()
    expect(carry).not_to_be_checked()
    carry.click()
    expect(carry).to_be_checked()
    apply.click()
    expect(details.locator(".ks-EnvPanel-done")).to_be_visible(timeout=60_000)
    expect(panel).to_have_attribute("data-current", str(target), timeout=T)
