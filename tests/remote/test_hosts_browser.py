"""The VM manager and the create form with a remote host beside the local one, in
real Chromium against a real JupyterLab (and a real sshd + the remote user's daemon).

Two VMs share one name, one per host: the manager groups them under their
host's heading and every action, thumbnail and console goes to the VM of its
row (``?uri=`` on each request and on the console websocket). The create form
offers a host picker: the remote host's pool ISOs, shares refused there with
the reason and checked as typed here, and a server ISO uploaded with a
progress line before the VM is made on that host.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.jupyter import RunningServer
from support.notebooks import write_notebook

from .conftest import GUEST, LOCAL, chromium_page, host_alias, open_manager, remote_shutoff_vm
from .sshhost import SSHHost

#: ``page.evaluate`` it: every text the form's progress line shows, in window.__ksProgress
WATCH_PROGRESS = """
window.__ksProgress = [];
const line = document.querySelector('.ks-vmm-form .ks-cvm-progress');
new MutationObserver(() => window.__ksProgress.push(line.textContent))
  .observe(line, {subtree: true, childList: true, characterData: true});
"""


@pytest.fixture(scope="module")
def twins(ssh_host: SSHHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One name, two shut-off VMs: one on each host (the local one removed after)."""
    from kernelswitch._paths import testos_dir
    from kernelswitch.vm.manager import VMManager

    name = remote_shutoff_vm(ssh_host, tmp_path_factory, "twin")["name"]
    local = VMManager(LOCAL)
    local.create(name, str(testos_dir() / "testos-plain.iso"), start=False, **GUEST)
    try:
        yield name
    finally:
        local.delete(name, disks=True, force=True)


@pytest.fixture(scope="module")
def lab3(two_host_lab: tuple[RunningServer, Path]) -> tuple[RunningServer, Path]:
    return two_host_lab


@pytest.fixture
def share_dir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="ks-share-"))
    folder.chmod(0o755)  # the hypervisor's user may read it
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _about(name: str, url: str) -> bool:
    return bool(re.search(rf"/kernelswitch/api/vms/{re.escape(name)}(/|\?|$)", url))


def test_manager_groups_by_host_and_each_row_acts_on_its_own_host(
    lab3: tuple[RunningServer, Path], ssh_host: SSHHost, twins: str, shots: Path,
    share_dir: Path, tmp_path: Path,
) -> None:  # fmt: skip
    from playwright.sync_api import expect

    lab, root = lab3
    alias = host_alias(ssh_host)
    write_notebook(root / "hosts.ipynb", "%load_ext kernelswitch\nm = %vm manager\nm")
    with chromium_page(900) as page:
        urls: list[str] = []
        page.on("request", lambda r: urls.append(r.url))
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        manager = open_manager(page, lab, f"ks-hosts-{secrets.token_hex(4)}", "hosts.ipynb")

        # one heading per host, in the configured order; the twins under each
        heads = manager.locator(".ks-vmm-host")
        expect(heads).to_have_count(2)
        expect(heads.nth(0)).to_have_text("local (this machine)")
        expect(heads.nth(1)).to_have_text(alias)
        expect(heads.nth(1)).to_have_attribute("title", ssh_host.uri())
        there = manager.locator(f'.ks-vmm-vm[data-name="{twins}"][data-uri="{ssh_host.uri()}"]')
        here = manager.locator(f'.ks-vmm-vm[data-name="{twins}"][data-uri="{LOCAL}"]')
        expect(there.locator(".ks-vmm-meta")).not_to_contain_text(alias)  # its heading says
        expect(here).to_have_attribute("data-state", "shutoff")

        # Start on the remote row starts the remote twin only
        there.locator(".ks-vmm-start").click()
        expect(there).to_have_attribute("data-state", "running", timeout=90_000)
        expect(here).to_have_attribute("data-state", "shutoff")
        there.locator(".ks-vmm-console").click()
        screen = there.locator(".ks-console")
        expect(screen).to_have_attribute("data-state", "connected", timeout=60_000)
        there.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "hosts-manager-remote-console.png"))
        there.locator(".ks-vmm-console").click()  # hide it
        there.locator(".ks-vmm-destroy").click()
        there.locator(".ks-vmm-confirm button", has_text="Force off").click()
        expect(there).to_have_attribute("data-state", "shutoff", timeout=60_000)
        expect(here).to_have_attribute("data-state", "shutoff")

        consoles = [u for u in sockets if _about(twins, u)]
        assert consoles and all(f"uri={_q(ssh_host.uri())}" in u for u in consoles), sockets
        # (the VM sidebar's own thumbnail fetches are the sidebar's business, not this page's)
        mine = [u for u in urls
                if _about(twins, u) and not u.split("?")[0].endswith("/thumbnail")]
        assert len(mine) >= 3 and all(f"uri={_q(ssh_host.uri())}" in u for u in mine), mine
        # its Disc tab offers the ISOs in its host's pools (what a remote QEMU can read)
        there.locator(".ks-vmm-act.ks-vmm-details").click()
        there.locator('.ks-vmm-dtab[data-tab="disc"]').click()
        picks = there.locator(".ks-vmm-media datalist option")
        expect(picks.filter(has_text="on the host")).not_to_have_count(0)
        there.locator(".ks-vmm-iso").fill(f"{twins}.iso")
        expect(there.locator(".ks-vmm-isoCheck")).to_have_text(
            "The hypervisor can read this ISO.")
        there.locator(".ks-vmm-act.ks-vmm-details").click()
        manager.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "hosts-manager.png"))

        _create_on_the_remote_host(page, manager, ssh_host, alias, twins, shots,
                                   share_dir, tmp_path)  # fmt: skip


def _q(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def _create_on_the_remote_host(
    page: Any, manager: Any, ssh_host: SSHHost, alias: str, twins: str, shots: Path,
    share_dir: Path, tmp_path: Path,
) -> None:  # fmt: skip
    from playwright.sync_api import expect
    from vm.conftest import unique_name

    from kernelswitch._paths import testos_dir
    from kernelswitch.vm.manager import VMManager

    manager.locator(".ks-vmm-new").click()
    form = manager.locator(".ks-vmm-form .ks-cvm")
    host = form.locator(".ks-cvm-row-host select")
    expect(host).to_be_visible()
    expect(host.locator("option")).to_have_count(2)
    expect(host).to_have_value(LOCAL)

    # here: shares are checked as typed, by the server's own check
    form.locator(".ks-cvm-sharesAdd").click()
    share = form.locator(".ks-cvm-shareInput").first
    expect(share).to_be_focused()
    share.fill("/no/such/folder")
    expect(form.locator(".ks-cvm-shareError").first).to_contain_text("does not exist")
    expect(share).to_have_attribute("aria-invalid", "true")
    share.fill(f"{share_dir}:data")
    expect(share).to_have_attribute("aria-invalid", "false")
    expect(form.locator(".ks-cvm-sharesNote")).to_contain_text("mount -t virtiofs")
    form.scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "hosts-form-shares.png"))

    # there: its ISOs, and shares refused with the reason
    host.select_option(ssh_host.uri())
    expect(form).to_have_attribute("data-host", ssh_host.uri())
    expect(form.locator(".ks-cvm-sharesNote")).to_contain_text("do not apply on a remote host")
    expect(form.locator(".ks-cvm-shareError").first).to_contain_text(
        "do not apply on a remote host")
    expect(form.locator(".ks-cvm-sharesAdd")).to_be_disabled()
    options = form.locator("datalist option")
    expect(options.filter(has_text="on the host")).not_to_have_count(0)
    assert form.locator(f'datalist option[value$="/{twins}.iso"]').count() == 1
    form.locator(".ks-cvm-shareRemove").first.click()
    expect(form.locator(".ks-cvm-shareInput")).to_have_count(0)

    # a server ISO: uploaded into the host's pool with progress, then the VM made there
    name = unique_name("upform")
    iso = Path(tempfile.mkdtemp(prefix="ks-upform-")) / f"{name}.iso"
    try:
        shutil.copy(testos_dir() / "testos-plain.iso", iso)
        form.locator(".ks-cvm-iso").fill(str(iso))
        form.locator(".ks-cvm-os").fill("alpinelinux3.17")
        form.locator(".ks-cvm-name").fill(name)
        form.locator(".ks-cvm-memory").fill("256M")
        form.locator(".ks-cvm-cpus").fill("1")
        form.locator(".ks-cvm-disk").fill("1G")
        form.locator(".ks-cvm-start").uncheck()
        expect(form.locator(".ks-cvm-hint-iso")).to_contain_text(f"made on {alias}")
        expect(form.locator(".ks-cvm-error-os")).to_have_text("")
        page.screenshot(path=str(shots / "hosts-form-remote.png"))
        page.evaluate(WATCH_PROGRESS)
        form.locator(".ks-cvm-create").click()
        expect(form.locator(".ks-cvm-result")).to_contain_text(f"Created VM {name} (shutoff)",
                                                              timeout=120_000)  # fmt: skip
        said = page.evaluate("window.__ksProgress")
        assert any(s.startswith(f"Uploading {iso.name} to {alias}: ") for s in said), said
        made = VMManager(ssh_host.uri()).info(name)
        assert made["media"][0]["path"].endswith(f"/{iso.name}")  # the host's copy
        row = manager.locator(f'.ks-vmm-vm[data-name="{name}"]')
        expect(row).to_have_attribute("data-uri", ssh_host.uri())
    finally:
        shutil.rmtree(iso.parent, ignore_errors=True)
