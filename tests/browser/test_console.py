"""The live console widget in JupyterLab (real Chromium, the shared test-OS guest):
canvas = server framebuffer, typing (shifted symbols, a non-US layout), mouse,
sound, two viewers, a resolution change, and stopping the VM."""

from __future__ import annotations

import base64
import json
import secrets
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Page, expect
from support.console_vm import mark_stopped, serial_text, wait_rebooted
from support.jupyter import RunningServer
from support.keys import SHIFTED as _SHIFTED
from support.keys import code as _code
from support.keys import type_like_a_person
from support.notebooks import open_notebook, write_notebook


def api(lab: RunningServer, path: str, method: str = "GET", body: Any = None) -> tuple[bytes, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{lab.url}kernelswitch/api/{path}", data=data, method=method)
    req.add_header("Authorization", f"token {lab.token}")
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.read(), r.headers


def framebuffer(lab: RunningServer, name: str) -> np.ndarray:
    body, headers = api(lab, f"vms/{name}/framebuffer")
    w, h = int(headers["X-Framebuffer-Width"]), int(headers["X-Framebuffer-Height"])
    return np.frombuffer(body, np.uint8).reshape(h, w, 4)


_READ_CANVAS = """(i) => {
  const c = document.querySelectorAll('.ks-console-canvas')[i];
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let s = '';
  for (let k = 0; k < d.length; k += 0x8000) {
    s += String.fromCharCode.apply(null, d.subarray(k, k + 0x8000));
  }
  return [c.width, c.height, btoa(s)];
}"""


def canvas(page: Page, index: int) -> np.ndarray:
    w, h, b64 = page.evaluate(_READ_CANVAS, index)
    return np.frombuffer(base64.b64decode(b64), np.uint8).reshape(h, w, 4)


def assert_canvas_is_framebuffer(page: Page, lab: RunningServer, name: str, index: int) -> None:
    """The canvas shows the server's framebuffer (but for a blinking cursor)."""
    same = 0.0
    for _ in range(40):
        fb = framebuffer(lab, name)
        shown = canvas(page, index)
        if shown.shape == fb.shape:
            same = float((shown == fb).all(axis=2).mean())
            if same > 0.995:
                return
        time.sleep(0.25)
    pytest.fail(f"canvas {index} != framebuffer: {same:.4f} equal, {shown.shape} vs {fb.shape}")


def wait_serial(info: dict, needle: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while needle not in serial_text(info):
        if time.monotonic() > deadline:
            pytest.fail(f"{needle!r} not in the serial log:\n{serial_text(info)[-1500:]}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def console_page(browser: Any, lab: RunningServer, lab_root: Path, console_vm: dict) -> Any:
    """A notebook showing the VM's console twice: ``%vm console`` and ``Console()``."""
    name = console_vm["name"]
    write_notebook(
        lab_root / "console.ipynb",
        f"%load_ext kernelswitch\n%vm console {name}",
        f"from kernelswitch.widgets import Console\nConsole({name!r}, scale='1:1')",
    )
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    # its own workspace: its layout (consoles, fullscreen) is not restored in later tests
    notebook = open_notebook(page, lab, "ks-console", "console.ipynb")
    cells = notebook.locator(".jp-CodeCell")
    for i in range(2):
        cells.nth(i).locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
    consoles = page.locator(".ks-console")
    expect(consoles).to_have_count(2, timeout=90_000)
    for i in range(2):
        expect(consoles.nth(i)).to_have_attribute("data-state", "connected", timeout=60_000)
    yield page
    context.close()


def focus_console(page: Page, index: int = 0) -> None:
    root = page.locator(".ks-console").nth(index)
    root.locator(".ks-console-status").click()  # focus without clicking into the guest
    root.focus()


def test_canvases_show_the_framebuffer(
    console_page: Page, lab: RunningServer, console_vm: dict, shots_dir: Path
) -> None:
    page, name = console_page, console_vm["name"]
    expect(page.locator(".ks-console-canvas").first).to_have_attribute("data-width", "720")
    assert_canvas_is_framebuffer(page, lab, name, 0)
    assert_canvas_is_framebuffer(page, lab, name, 1)  # a second viewer, the same frames
    page.locator(".ks-console").first.scroll_into_view_if_needed()
    page.screenshot(path=str(shots_dir / "console.png"))


def test_typing_lands_in_the_guest(
    console_page: Page, lab: RunningServer, console_vm: dict
) -> None:
    page = console_page
    cells = page.locator(".jp-CodeCell").count()
    focus_console(page)
    # 'a', 'b', 'dd' would add and delete cells if JupyterLab saw them (command mode)
    token = f"TYPED-abdd{secrets.token_hex(3)}_A+B:C!@#%^&*()<>|~"
    type_like_a_person(page, f"echo '{token}' > /dev/ttyS0\n")
    wait_serial(console_vm, token + "\n")
    # JupyterLab's shortcuts stayed out (in command mode 'a'/'b' would add cells)
    expect(page.locator(".jp-CodeCell")).to_have_count(cells)
    # both viewers painted what was typed
    assert_canvas_is_framebuffer(page, lab, console_vm["name"], 0)
    assert_canvas_is_framebuffer(page, lab, console_vm["name"], 1)


def test_non_us_layout_sends_physical_keys(console_page: Page, console_vm: dict) -> None:
    """An AZERTY keyboard: the key labelled 'a' is KeyQ. The guest (US layout) gets
    the physical key, so it types 'q', exactly like a real AZERTY keyboard would."""
    page = console_page
    focus_console(page)
    azerty = {"KeyQ": "a", "KeyW": "z", "KeyA": "q", "KeyZ": "w", "KeyM": ",", "Semicolon": "m"}
    text = f"echo azerty-{secrets.token_hex(2)}qwam > /dev/ttyS0\n"
    events = []
    for ch in text:
        shifted = ch in _SHIFTED or ch.isupper()
        code = "Enter" if ch == "\n" else _code(_SHIFTED.get(ch, ch))
        key = "Enter" if ch == "\n" else (azerty.get(code, ch))
        events.append({"code": code, "key": key, "shift": shifted})
    page.evaluate(
        """async (events) => {
          const root = document.querySelector('.ks-console');
          const pause = () => new Promise((r) => setTimeout(r, 15));  // a fast typist
          const fire = async (type, code, key) => {
            const init = {code, key, bubbles: true, cancelable: true};
            root.dispatchEvent(new KeyboardEvent(type, init));
            await pause();
          };
          for (const e of events) {
            if (e.shift) await fire('keydown', 'ShiftLeft', 'Shift');
            await fire('keydown', e.code, e.key);
            await fire('keyup', e.code, e.key);
            if (e.shift) await fire('keyup', 'ShiftLeft', 'Shift');
          }
        }""",
        events,
    )
    wait_serial(console_vm, text.split()[1] + "\n")


def test_type_text_box_and_special_key_buttons(console_page: Page, console_vm: dict) -> None:
    root = console_page.locator(".ks-console").first
    token = f"BOX-{secrets.token_hex(3)}"
    root.locator(".ks-console-typebox").fill(f"echo {token} > /dev/ttyS0")
    root.locator(".ks-console-typebox").press("Enter")  # types the text, then Enter
    wait_serial(console_vm, token + "\n")
    # Ctrl+W (a browser would close the tab) reaches the guest's line editor,
    # which deletes the word before the cursor: only the first word is echoed
    kept = f"KEEP-{secrets.token_hex(3)}"
    box = root.locator(".ks-console-typebox")
    box.fill(f"echo {kept} > /dev/ttyS0 DROPME")
    root.locator(".ks-console-btn", has_text="Type").click()  # no Enter yet
    time.sleep(1.5)
    root.locator('.ks-console-btn[data-keys="ctrl+w"]').click()
    time.sleep(0.5)
    box.press("Enter")  # an empty box: just Enter
    wait_serial(console_vm, kept + "\n")
    assert "DROPME" not in serial_text(console_vm)


def test_mouse_reaches_the_guest(console_page: Page, console_vm: dict) -> None:
    page = console_page
    focus_console(page)
    type_like_a_person(page, "ks-mouse\n")
    wait_serial(console_vm, "KS-MOUSE-WAITING")
    box = page.locator(".ks-console-canvas").first.bounding_box()
    assert box is not None
    for i in range(10):
        page.mouse.move(box["x"] + 50 + 20 * i, box["y"] + 40 + 10 * i)
        page.mouse.down()
        page.mouse.up()
    wait_serial(console_vm, "KS-MOUSE-EVENTS bytes=192")


def test_sound_reaches_the_browser(console_page: Page, console_vm: dict) -> None:
    page = console_page
    root = page.locator(".ks-console").first
    root.locator(".ks-console-audio").click()
    expect(root).to_have_attribute("data-audio", "on")
    focus_console(page)
    type_like_a_person(page, "ks-tone 6\n")
    page.wait_for_function(
        "() => Number(document.querySelector('.ks-console').dataset.audioBytes || 0) > 40000",
        timeout=30_000,
    )
    root.locator(".ks-console-audio").click()  # mute
    expect(root).to_have_attribute("data-audio", "muted")


def test_scale_modes(console_page: Page) -> None:
    page = console_page
    root = page.locator(".ks-console").nth(1)
    canvas = root.locator(".ks-console-canvas")
    expect(root).to_have_attribute("data-scale", "1:1")
    dpr = page.evaluate("window.devicePixelRatio")
    width = int(canvas.get_attribute("data-width") or 0)
    assert canvas.evaluate("c => c.getBoundingClientRect().width") == pytest.approx(width / dpr)
    root.locator(".ks-console-scale").select_option("integer")
    expect(root).to_have_attribute("data-scale", "integer")
    assert canvas.evaluate("c => getComputedStyle(c).imageRendering") == "pixelated"
    root.locator(".ks-console-scale").select_option("fit")
    expect(root).to_have_attribute("data-scale", "fit")


def test_resolution_change_resizes_the_canvas(
    console_page: Page, lab: RunningServer, console_vm: dict
) -> None:
    page = console_page
    focus_console(page)
    type_like_a_person(page, "ks-fb\n")
    wait_serial(console_vm, "KS-FB ")
    canvas = page.locator(".ks-console-canvas").first
    expect(canvas).not_to_have_attribute("data-width", "720", timeout=30_000)
    fb = framebuffer(lab, console_vm["name"])
    expect(canvas).to_have_attribute("data-width", str(fb.shape[1]))
    assert_canvas_is_framebuffer(page, lab, console_vm["name"], 0)


def test_stopping_the_vm_says_stopped_and_keeps_a_preview(
    console_page: Page, lab: RunningServer, console_vm: dict
) -> None:
    page, name = console_page, console_vm["name"]
    api(lab, f"vms/{name}/destroy", "POST", {})
    consoles = page.locator(".ks-console")
    for i in range(2):
        expect(consoles.nth(i)).to_have_attribute("data-state", "stopped", timeout=30_000)
    expect(consoles.first.locator(".ks-console-overlay")).to_contain_text("Stopped: ")
    expect(consoles.first.locator(".ks-console-overlay")).to_contain_text("is shut off")
    png, headers = api(lab, f"vms/{name}/preview")
    assert headers["Content-Type"] == "image/png" and png[:4] == b"\x89PNG"
    vms = json.loads(api(lab, "vms")[0])["vms"]
    assert next(v for v in vms if v["name"] == name)["preview"] is True
    # start it again: the consoles reconnect by themselves (and later tests get a guest)
    mark_stopped(console_vm)
    api(lab, f"vms/{name}/start", "POST", {})
    for i in range(2):
        expect(consoles.nth(i)).to_have_attribute("data-state", "connected", timeout=60_000)
    wait_rebooted(console_vm)
