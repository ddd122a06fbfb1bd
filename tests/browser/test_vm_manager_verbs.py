"""Every verb of the VM manager widget in JupyterLab (real Chromium, server,
libvirt and a TCG guest from the test OS).

One small VM (made over REST, shut off) goes through the Details tabs:
snapshots (take, list with time and state, revert after asking, delete),
hardware (memory and vCPUs say "next boot", autostart, add a disk, grow one), clone
(then the clone is deleted keeping its disks, which the Disks list shows as
orphans, deleted from there), the disc (eject, an ISO path checked as you
type, insert). Started, its row shows the uptime and live stats graphs, and
Force off and Reboot ask first (Cancel changes nothing).
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect
from support.jupyter import RunningServer
from support.notebooks import open_notebook, write_notebook
from support.sparkline import assert_line_visible

pytestmark = pytest.mark.vm


def _api(lab: RunningServer, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body if body is not None else {}).encode() if method != "GET" else None
    req = urllib.request.Request(f"{lab.url}kernelswitch/api/{path}", data=data, method=method)
    req.add_header("Authorization", f"token {lab.token}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=180) as r:
        return json.loads(r.read() or b"null")


def _session_vms(lab: RunningServer, stem: str) -> list[str]:
    return [vm["name"] for vm in _api(lab, "GET", "vms")["vms"] if vm["name"].startswith(stem)]


@pytest.fixture
def small_vm(lab: RunningServer) -> Iterator[dict[str, Any]]:
    """A shut-off test-OS VM; it, its clones and their disks are removed whatever happens."""
    from vm.conftest import unique_name

    from kernelswitch._paths import testos_dir

    iso = Path(os.environ.get("KERNELSWITCH_TESTOS_DIR") or testos_dir()) / "testos-plain.iso"
    if not iso.is_file():
        pytest.fail(f"test OS image missing: {iso}; build it with `bash scripts/build-testos.sh`")
    name = unique_name("verbs")
    info = _api(lab, "POST", "vms", {"name": name, "iso": str(iso), "os": "alpinelinux3.17",
                                     "memory": "256M", "disk": "1G", "cpus": 1, "start": False})
    yield {**info, "iso": str(iso)}
    for vm in _session_vms(lab, name):
        _api(lab, "DELETE", f"vms/{vm}?disks=1&force=1")
    for d in _api(lab, "GET", "storage/disks")["disks"]:
        if d["name"].startswith(name) and d["orphan"]:
            _api(lab, "DELETE", f"storage/disks/{d['name']}")


def _run(page: Page, cell: Locator) -> None:
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")


def _done(row: Locator) -> None:
    """The row's last action finished, without an error."""
    expect(row.locator("xpath=self::*[@data-busy]")).to_have_count(0, timeout=180_000)
    expect(row.locator(".ks-vmm-info > .ks-vmm-error")).to_have_text("")


def test_manager_does_every_verb(
    page: Page, lab: RunningServer, lab_root: Path, shots_dir: Path, small_vm: dict[str, Any]
) -> None:
    name = small_vm["name"]
    page.set_viewport_size({"width": 1300, "height": 1000})
    write_notebook(lab_root / "verbs.ipynb", "%load_ext kernelswitch\nm = %vm manager\nm")
    notebook = open_notebook(page, lab, "ks-verbs", "verbs.ipynb")
    _run(page, notebook.locator(".jp-CodeCell").first)
    manager = notebook.locator(".ks-vmm")
    expect(manager).to_have_attribute("data-state", "ready", timeout=60_000)
    row = manager.locator(f'.ks-vmm-vm[data-name="{name}"]')
    expect(row).to_have_attribute("data-state", "shutoff", timeout=30_000)
    # the OS by its name, not libosinfo's id
    expect(row.locator(".ks-vmm-meta")).to_contain_text("Alpine Linux 3.17")
    meta_text = row.locator(".ks-vmm-meta").inner_text()
    assert "http://" not in meta_text and "%vm" not in manager.inner_text()

    # ---------------------------------------------------------------- snapshots
    row.locator(".ks-vmm-details").click()
    details = row.locator(".ks-vmm-detailsBox")
    expect(details.locator('.ks-vmm-dtab[data-tab="snapshots"]')).to_have_attribute(
        "aria-selected", "true"
    )
    expect(details.locator(".ks-vmm-empty")).to_have_text("No snapshots yet.")
    details.locator(".ks-vmm-snapName").fill("before-edit")
    expect(details.locator(".ks-vmm-snapName")).to_have_value("before-edit")
    details.locator(".ks-vmm-snapTake").click()
    snap = details.locator('tr[data-snapshot="before-edit"]')
    expect(snap).to_contain_text("Shut off", timeout=120_000)
    expect(snap).to_contain_text("current")
    _done(row)
    row.scroll_into_view_if_needed()
    page.screenshot(path=str(shots_dir / "vm-manager-snapshots.png"))

    # ---------------------------------------------------------------- hardware: says "next boot"
    details.locator('.ks-vmm-dtab[data-tab="hardware"]').click()
    details.locator(".ks-vmm-editMemory").fill("384M")
    details.locator(".ks-vmm-editCpus").fill("2")
    details.locator(".ks-vmm-editAddDisk").fill("64M")
    details.locator(".ks-vmm-editAutostart").check()
    details.locator(".ks-vmm-editApply").click()
    changes = details.locator(".ks-vmm-changes")
    expect(changes).to_contain_text("memory 256M → 384M: next boot", timeout=120_000)
    expect(changes).to_contain_text("vCPUs 1 → 2: next boot")
    expect(changes).to_contain_text("autostart off → on")
    expect(changes).to_contain_text("disk ")
    _done(row)
    expect(row.locator(".ks-vmm-meta")).to_contain_text("384M memory · 2 vCPUs")
    row.scroll_into_view_if_needed()
    page.screenshot(path=str(shots_dir / "vm-manager-hardware.png"))

    # ---------------------------------------------------------------- revert (asks first)
    details.locator('.ks-vmm-dtab[data-tab="snapshots"]').click()
    snap.locator(".ks-vmm-snapRevert").click()
    expect(details.locator(".ks-vmm-confirmText")).to_contain_text("Revert")
    expect(details.locator(".ks-vmm-confirmNo")).to_be_focused()
    details.locator(".ks-vmm-confirmYes").click()
    _done(row)
    expect(row.locator(".ks-vmm-meta")).to_contain_text("256M memory · 1 vCPU", timeout=30_000)
    snap.locator(".ks-vmm-snapDelete").click()
    details.locator(".ks-vmm-confirmYes").click()
    expect(details.locator(".ks-vmm-empty")).to_be_visible(timeout=60_000)
    _done(row)

    # ------------------------------------- grow a disk (no snapshot left: qcow2 needs that)
    details.locator('.ks-vmm-dtab[data-tab="hardware"]').click()
    details.locator(".ks-vmm-editGrowDisk").select_option("vda")
    details.locator(".ks-vmm-editGrowSize").fill("2G")
    details.locator(".ks-vmm-editApply").click()
    expect(changes).to_contain_text("disk vda 1G → 2G", timeout=120_000)
    _done(row)
    expect(row.locator(".ks-vmm-meta")).to_contain_text("of 2G")

    # ---------------------------------------------------------------- clone, orphans
    details.locator(".ks-vmm-cloneName").fill(f"{name}-c")
    details.locator(".ks-vmm-clone").click()
    clone_row = manager.locator(f'.ks-vmm-vm[data-name="{name}-c"]')
    expect(clone_row).to_have_attribute("data-state", "shutoff", timeout=180_000)
    _done(row)
    clone_row.locator(".ks-vmm-delete").click()
    clone_row.locator(".ks-vmm-confirmDelete").click()  # disks kept: they become orphans
    expect(clone_row).to_have_count(0, timeout=60_000)
    disks = manager.locator(".ks-vmm-disks")
    orphan = disks.locator(".ks-vmm-orphan", has_text=f"{name}-c")
    expect(orphan.first).to_contain_text("orphan", timeout=30_000)
    manager.locator(".ks-vmm-storage").scroll_into_view_if_needed()
    page.screenshot(path=str(shots_dir / "vm-manager-orphans.png"))
    while orphan.count():
        orphan.first.locator(".ks-vmm-diskDelete").click()
        expect(disks.locator(".ks-vmm-confirmText")).to_contain_text("cannot be undone")
        disks.locator(".ks-vmm-confirmYes").click()
        expect(manager.locator(".ks-vmm-notice")).to_contain_text("Deleted", timeout=60_000)
        page.wait_for_timeout(500)
    assert not [
        d for d in _api(lab, "GET", "storage/disks")["disks"] if d["name"].startswith(f"{name}-c")
    ]

    # ---------------------------------------------------------------- the disc
    details.locator('.ks-vmm-dtab[data-tab="disc"]').click()
    drive = details.locator(".ks-vmm-drive").first
    expect(drive).to_contain_text(small_vm["iso"])
    drive.locator(".ks-vmm-eject").click()
    expect(drive).to_contain_text("empty", timeout=60_000)
    _done(row)
    iso = details.locator(".ks-vmm-iso")
    iso.fill("/nowhere/missing.iso")
    expect(details.locator(".ks-vmm-isoCheck")).to_have_class(re.compile(r"\bks-vmm-bad\b"))
    expect(details.locator(".ks-vmm-insert")).to_be_disabled()
    # the chooser offers the ISO the VM had (and its neighbours)
    options = details.locator("datalist option")
    expect(options.first).to_be_attached(timeout=30_000)
    offered = {o.get_attribute("value"): o.text_content() for o in options.all()}
    assert offered.get(small_vm["iso"]) == "in a VM", offered
    neighbour = str(Path(small_vm["iso"]).with_name("testos-fedora.iso"))
    assert offered.get(neighbour) == "next to a disc in use", offered
    iso.fill(small_vm["iso"])
    expect(details.locator(".ks-vmm-isoCheck")).to_have_text("The hypervisor can read this ISO.")
    details.locator(".ks-vmm-insert").click()
    expect(drive).to_contain_text(small_vm["iso"], timeout=60_000)
    _done(row)
    row.scroll_into_view_if_needed()
    page.screenshot(path=str(shots_dir / "vm-manager-disc.png"))

    # ---------------------------------------------------------------- running: uptime, graphs
    row.locator(".ks-vmm-start").click()
    expect(row).to_have_attribute("data-state", "running", timeout=120_000)
    expect(row.locator(".ks-vmm-meta")).to_contain_text(" · up ", timeout=30_000)
    stats = row.locator(".ks-vmm-stats")
    expect(stats).to_be_visible(timeout=30_000)
    expect(stats.locator('.ks-spark[data-kind="cpu"] .ks-spark-label')).to_contain_text("CPU ")
    expect(stats.locator('.ks-spark[data-kind="memory"]')).to_contain_text("Memory")
    expect(stats.locator('.ks-spark[data-kind="disk"] polyline')).to_have_count(2)
    expect(stats.locator('.ks-spark[data-kind="net"] polyline')).to_have_count(2)
    # live: more points come without any action
    points = stats.locator('.ks-spark[data-kind="cpu"] polyline').get_attribute("points") or ""
    page.wait_for_timeout(3000)
    later = stats.locator('.ks-spark[data-kind="cpu"] polyline').get_attribute("points") or ""
    assert later != points and len(later.split()) >= 2
    # and drawn where a person sees them, flat low lines included
    for kind in ("cpu", "disk", "net"):
        assert_line_visible(stats.locator(f'.ks-spark[data-kind="{kind}"]'))

    # ---------------------------------------------------------------- force off, reboot ask first
    row.locator(".ks-vmm-reboot").click()
    confirm = row.locator(".ks-vmm-info > .ks-vmm-confirm")
    expect(confirm.locator(".ks-vmm-confirmText")).to_contain_text(f"Reboot {name}?")
    page.keyboard.press("Escape")
    expect(confirm).to_be_hidden()
    expect(row.locator(".ks-vmm-reboot")).to_be_focused()
    row.locator(".ks-vmm-destroy").click()
    expect(confirm.locator(".ks-vmm-confirmText")).to_contain_text(f"Force {name} off?")
    row.scroll_into_view_if_needed()
    page.screenshot(path=str(shots_dir / "vm-manager-forceoff.png"))
    confirm.locator(".ks-vmm-confirmNo").click()
    page.wait_for_timeout(1000)
    expect(row).to_have_attribute("data-state", "running")
    row.locator(".ks-vmm-destroy").click()
    confirm.locator(".ks-vmm-confirmYes").click()
    expect(row).to_have_attribute("data-state", "shutoff", timeout=60_000)
    expect(row.locator(".ks-vmm-stats")).to_be_hidden()
