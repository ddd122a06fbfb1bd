"""The VM manager and the create-VM form in JupyterLab (real Chromium, server,
libvirt and a TCG guest from the test OS).

One short-lived VM goes through the whole flow: ``%vm new`` identifies the
test ISO as fedora37 and prefills its sizes, bad input shows each field's
error and creates nothing, a good form creates the VM; ``%vm manager`` lists
it, starts it from the keyboard, opens its console below the row, forces it
off (its preview thumbnail stays), and deletes it with its disks after a
confirmation that says what happens to them. Whatever is left is removed.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect
from support.jupyter import RunningServer
from support.notebooks import open_notebook, write_notebook

pytestmark = pytest.mark.vm


def _api(lab: RunningServer, method: str, path: str) -> Any:
    data = b"{}" if method == "POST" else None
    req = urllib.request.Request(f"{lab.url}kernelswitch/api/{path}", data=data, method=method)
    req.add_header("Authorization", f"token {lab.token}")
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read() or b"null")


def _names(lab: RunningServer) -> set[str]:
    """This session's VMs (other engineers' sessions share the daemon)."""
    from vm.conftest import SESSION_PREFIX

    return {
        vm["name"] for vm in _api(lab, "GET", "vms")["vms"] if vm["name"].startswith(SESSION_PREFIX)
    }


def _volumes(lab: RunningServer, prefix: str) -> list[str]:
    return [
        v["name"] for v in _api(lab, "GET", "storage")["volumes"] if v["name"].startswith(prefix)
    ]


@pytest.fixture
def fedora_iso() -> Path:
    from kernelswitch._paths import testos_dir

    iso = Path(os.environ.get("KERNELSWITCH_TESTOS_DIR") or testos_dir()) / "testos-fedora.iso"
    if not iso.is_file():
        pytest.fail(f"test OS image missing: {iso}; build it with `bash scripts/build-testos.sh`")
    return iso


@pytest.fixture
def vm_name(lab: RunningServer) -> Iterator[str]:
    """A session-prefixed name; the VM and its disks are removed whatever happens."""
    from vm.conftest import unique_name

    name = unique_name("form")
    yield name
    if name in _names(lab):
        _api(lab, "DELETE", f"vms/{name}?disks=1&force=1")
    for vol in _volumes(lab, name):
        _api(lab, "DELETE", f"storage/disks/{vol}")


def _notebook(path: Path) -> None:
    write_notebook(
        path,
        "%load_ext kernelswitch\nform = %vm new\nform",
        "manager = %vm manager\nmanager",
        'print("created:", form.created.get("name"), form.status)',
        'manager.close()\nprint("closed")',
    )


def _run(page: Page, cell: Locator) -> None:
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")


def _fill_form(
    page: Page, form: Locator, iso: Path, lab: RunningServer, name: str, shots: Path
) -> None:
    form.locator(".ks-cvm-iso").fill(str(iso))
    # libosinfo identified the ISO; the sizes are its recommendations, capped by the host
    expect(form.locator(".ks-cvm-hint-os")).to_contain_text("fedora37")
    expect(form.locator(".ks-cvm-hint-os")).to_contain_text("identified from the ISO")
    expect(form.locator(".ks-cvm-os")).to_have_value("fedora37")
    expect(form.locator(".ks-cvm-memory")).to_have_value(re.compile(r"^\d+(\.\d)?[MG]$"))
    expect(form.locator(".ks-cvm-disk")).to_have_value(re.compile(r"^\d+(\.\d)?G$"))

    # bad input: each field says what is wrong; Create makes nothing
    before = _names(lab)
    form.locator(".ks-cvm-name").fill("bad name!")
    form.locator(".ks-cvm-memory").fill("lots")
    form.locator(".ks-cvm-cpus").fill("0")
    expect(form.locator(".ks-cvm-error-name")).to_contain_text("letters, digits")
    expect(form.locator(".ks-cvm-error-memory")).to_contain_text("not a size")
    expect(form.locator(".ks-cvm-error-cpus")).to_contain_text("at least 1")
    form.locator(".ks-cvm-create").click()
    expect(form.locator(".ks-cvm-error-name")).to_contain_text("letters, digits")
    expect(form.locator(".ks-cvm-name")).to_have_attribute("aria-invalid", "true")
    expect(form.locator(".ks-cvm-result")).to_have_text("")
    page.screenshot(path=str(shots / "create-vm-errors.png"))
    assert _names(lab) == before
    assert _volumes(lab, "bad") == []

    # the server's own checks, by field: below fedora37's minimum memory
    form.locator(".ks-cvm-name").fill(name)
    form.locator(".ks-cvm-cpus").fill("1")
    form.locator(".ks-cvm-memory").fill("256M")
    expect(form.locator(".ks-cvm-error-memory")).to_contain_text("needs at least 1G")
    expect(form.locator(".ks-cvm-error-name")).to_have_text("")
    form.locator(".ks-cvm-memory").fill("1G")
    expect(form.locator(".ks-cvm-error-memory")).to_have_text("")
    form.locator(".ks-cvm-start").uncheck()


def test_create_then_manage_a_vm(
    page: Page,
    lab: RunningServer,
    lab_root: Path,
    shots_dir: Path,
    fedora_iso: Path,
    vm_name: str,
) -> None:
    _notebook(lab_root / "vmwidgets.ipynb")
    notebook = open_notebook(page, lab, "ks-vmwidgets", "vmwidgets.ipynb")
    cells = notebook.locator(".jp-CodeCell")
    expect(cells).to_have_count(4)
    polls: list[float] = []  # when the browser asked for the VM list (never on a timer)
    page.on(
        "request",
        lambda r: (
            polls.append(time.monotonic())
            if r.method == "GET" and re.search(r"/kernelswitch/api/vms(\?|$)", r.url)
            else None
        ),
    )
    _run(page, cells.nth(0))
    form = cells.nth(0).locator(".ks-cvm")
    expect(form).to_be_visible(timeout=60_000)
    _run(page, cells.nth(1))
    manager = cells.nth(1).locator(".ks-vmm")
    expect(manager).to_have_attribute("data-state", "ready", timeout=60_000)
    expect(manager.locator(".ks-vmm-storage")).to_contain_text("Storage pool")
    # "New VM…" opens the same form inside the manager, its ISO field focused
    manager.locator(".ks-vmm-new").click()
    expect(manager.locator(".ks-vmm-form .ks-cvm-iso")).to_be_focused()
    manager.locator(".ks-vmm-new").click()
    expect(manager.locator(".ks-vmm-form .ks-cvm")).to_have_count(0)

    _fill_form(page, form, fedora_iso, lab, vm_name, shots_dir)
    page.screenshot(path=str(shots_dir / "create-vm.png"))
    form.locator(".ks-cvm-create").click()
    expect(form.locator(".ks-cvm-result")).to_contain_text(
        f"Created VM {vm_name} (shutoff)", timeout=60_000
    )

    # the same name again is refused by the server, under the name
    form.locator(".ks-cvm-name").fill(vm_name)
    expect(form.locator(".ks-cvm-error-name")).to_contain_text("already exists")

    # the manager's list follows: the new VM, its state, OS and sizes
    manager.scroll_into_view_if_needed()  # on screen: thumbnails are taken
    row = manager.locator(f'.ks-vmm-vm[data-name="{vm_name}"]')
    expect(row).to_have_attribute("data-state", "shutoff", timeout=15_000)
    expect(row.locator(".ks-vmm-meta")).to_contain_text("Fedora Linux 37")
    expect(row.locator(".ks-vmm-meta")).to_contain_text("1G memory · 1 vCPU")
    expect(row.locator(".ks-vmm-start")).to_be_enabled()
    for greyed in ("destroy", "shutdown", "suspend", "console"):
        expect(row.locator(f".ks-vmm-{greyed}")).to_be_disabled()

    # start it from the keyboard
    row.locator(".ks-vmm-start").focus()
    page.keyboard.press("Enter")
    expect(row).to_have_attribute("data-state", "running", timeout=60_000)
    expect(row.locator(".ks-vmm-start")).to_be_disabled()
    expect(row.locator(".ks-vmm-destroy")).to_be_enabled()

    # pause and resume
    row.locator(".ks-vmm-suspend").click()
    expect(row).to_have_attribute("data-state", "paused", timeout=30_000)
    expect(row.locator(".ks-vmm-suspend")).to_be_disabled()
    row.locator(".ks-vmm-resume").click()
    expect(row).to_have_attribute("data-state", "running", timeout=30_000)

    # its console opens below the row, and hides again
    row.locator(".ks-vmm-console").click()
    console = row.locator(".ks-vmm-consoleBox .ks-console")
    expect(console).to_have_attribute("data-state", "connected", timeout=60_000)
    # the picture shows the guest's screen, not the console before its first frame
    expect(console).to_have_attribute("data-painted", re.compile(r"^[1-9]"), timeout=30_000)
    row.scroll_into_view_if_needed()
    page.screenshot(path=str(shots_dir / "vm-manager.png"))
    row.locator(".ks-vmm-console").click()
    expect(console).to_have_count(0)

    # force off (asks first); the last frame stays as the row's thumbnail
    row.locator(".ks-vmm-destroy").click()
    row.locator(".ks-vmm-confirmYes").click()
    expect(row).to_have_attribute("data-state", "shutoff", timeout=60_000)
    thumb = row.locator("img.ks-vmm-thumb")
    expect(thumb).to_be_visible(timeout=30_000)
    assert thumb.evaluate("img => img.naturalWidth") > 0

    # someone else starts it: the row follows, pushed by the server (no polling),
    # and a live thumbnail of the running guest appears
    _api(lab, "POST", f"vms/{vm_name}/start")
    expect(row).to_have_attribute("data-state", "running", timeout=2_000)
    expect(row.locator(".ks-vmm-start")).to_be_disabled()
    expect(manager).to_have_attribute("data-visible", "true")
    expect(thumb).to_be_visible(timeout=30_000)
    row.locator(".ks-vmm-destroy").click()
    row.locator(".ks-vmm-confirmYes").click()
    expect(row).to_have_attribute("data-state", "shutoff", timeout=60_000)
    expect(row.locator(".ks-vmm-error")).to_have_text("")

    # delete, with the disks: the confirmation says what happens to them
    row.locator(".ks-vmm-delete").click()
    text = row.locator(".ks-vmm-confirmText")
    expect(text).to_contain_text("Its disk images are kept")
    expect(row.locator(".ks-vmm-cancelDelete")).to_be_focused()
    row.locator(".ks-vmm-withDisks").check()
    expect(text).to_contain_text("will be deleted too")
    row.scroll_into_view_if_needed()
    page.screenshot(path=str(shots_dir / "vm-manager-delete.png"))
    row.locator(".ks-vmm-confirmDelete").click()
    expect(row).to_have_count(0, timeout=60_000)
    expect(manager.locator(".ks-vmm-notice")).to_contain_text(f"Deleted VM {vm_name}")
    assert vm_name not in _names(lab)
    assert _volumes(lab, vm_name) == []
    # nothing polls: with no action for 3 s, no list request
    page.wait_for_timeout(3000)
    assert not [t for t in polls if t > time.monotonic() - 2.5], "the manager polled the list"

    # the kernel side saw the form's result
    _run(page, cells.nth(2))
    expect(cells.nth(2).locator(".jp-OutputArea-output")).to_have_text(
        f"created: {vm_name} created", timeout=60_000
    )

    # ... and not once it is gone
    _run(page, cells.nth(3))
    expect(cells.nth(3).locator(".jp-OutputArea-output")).to_have_text("closed", timeout=60_000)
    expect(manager).to_have_count(0)
    gone = time.monotonic()
    page.wait_for_timeout(2500)
    assert [t for t in polls if t > gone + 0.2] == [], "the list was fetched after the view closed"
