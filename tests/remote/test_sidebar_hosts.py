"""The VM sidebar with two hosts, in real Chromium against a real JupyterLab: a
VM of the same name on the local host and on the remote one (a user's session
daemon behind a real sshd) shows twice, each under its host; every call the
sidebar makes about a VM names its host (``?uri=``), so an action on one copy
never reaches the other (a bare name two hosts share would be refused).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from support.lab_shell import open_vm_sidebar

from . import test_sidebar_remote as base
from .conftest import GUEST, LOCAL, chromium_page, host_alias
from .sshhost import SSHHost

# the remote set-up's own fixtures: a JupyterLab on both hosts, a shut-off remote VM
lab2 = base.lab2
remote_off_vm = base.remote_off_vm


@pytest.fixture
def twin(remote_off_vm: dict) -> Iterator[dict]:
    """A shut-off local VM named as the remote one."""
    from kernelswitch._paths import testos_dir
    from kernelswitch.vm.manager import VMManager

    name = remote_off_vm["name"]
    manager = VMManager(LOCAL)
    vm = manager.create(name, str(testos_dir() / "testos-plain.iso"), start=False, **GUEST)
    yield vm
    if name in manager.names():
        manager.delete(name, disks=True, force=True)


def _where(uri: str) -> str:
    return f"uri={quote(uri, safe='')}"


def test_sidebar_names_each_host_and_every_call_carries_it(
    lab2: Any, ssh_host: SSHHost, remote_off_vm: dict, twin: dict, shots: Path
) -> None:
    from playwright.sync_api import expect

    name, remote = remote_off_vm["name"], ssh_host.uri()
    alias = host_alias(ssh_host)
    with chromium_page() as page:
        calls: list[tuple[str, str]] = []
        page.on("request", lambda r: calls.append((r.method, r.url)) if f"/vms/{name}" in r.url
                else None)  # fmt: skip
        sidebar = open_vm_sidebar(page, lab2, "ks-hosts")

        # both hosts are named, each copy sits under its own
        headers = sidebar.locator(".ks-VMSidebar-uri")
        expect(headers.filter(has_text=re.compile("^local$"))).to_have_attribute("title", LOCAL)
        expect(headers.filter(has_text=alias)).to_have_attribute("title", remote)
        rows = sidebar.locator(f'.ks-VMSidebar-vm[data-ks-vm="{name}"]')
        expect(rows).to_have_count(2)
        here = sidebar.locator(f'.ks-VMSidebar-vm[data-ks-vm="{name}"][data-uri="{LOCAL}"]')
        there = sidebar.locator(f'.ks-VMSidebar-vm[data-ks-vm="{name}"][data-uri="{remote}"]')
        order = page.evaluate(
            """() => [...document.querySelectorAll('.ks-VMSidebar-list > li')].map(li =>
                  li.classList.contains('ks-VMSidebar-uri') ? 'H:' + li.title
                                                            : 'V:' + li.dataset.uri)"""
        )
        for uri in (LOCAL, remote):  # the row follows its host's header
            assert order.index(f"V:{uri}") > order.index(f"H:{uri}"), order
        sidebar_box = sidebar.bounding_box()
        assert sidebar_box and sidebar_box["width"] <= 300
        page.screenshot(path=str(shots / "sidebar-two-hosts.png"), clip={
            "x": 0, "y": 0, "width": sidebar_box["x"] + sidebar_box["width"] + 4,
            "height": 560})  # fmt: skip

        # start the remote copy from its row: the call names the remote host
        there.get_by_role("button", name=f"Start {name}").click()
        expect(there).to_have_attribute("data-state", "running", timeout=120_000)
        expect(here).to_have_attribute("data-state", "shutoff")
        start = [u for m, u in calls if m == "POST" and u.split("?")[0].endswith("/start")]
        assert start and _where(remote) in start[-1], start
        expect(there).to_have_attribute("data-thumb", re.compile("^thumb:"), timeout=60_000)
        # its live graphs come from the remote host's samples
        expect(there.locator(".ks-VMSidebar-stats")).to_be_visible(timeout=30_000)
        there.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "sidebar-two-hosts-running.png"), clip={
            "x": 0, "y": 0, "width": sidebar_box["x"] + sidebar_box["width"] + 4,
            "height": 640})  # fmt: skip

        # delete the local copy from its menu: only it goes, the remote one stays
        here.click(button="right")
        menu = page.locator(".lm-Menu").last
        menu.locator(".lm-Menu-item", has_text="Delete").click()
        dialog = page.locator(".jp-Dialog")
        expect(dialog).to_contain_text(f"Delete VM {name}?")
        dialog.locator(".ks-VMDelete-disks input").check()
        dialog.get_by_role("button", name="Delete").click()
        expect(here).to_have_count(0, timeout=30_000)
        expect(there).to_have_attribute("data-state", "running")
        deletes = [u for m, u in calls if m == "DELETE"]
        assert deletes and _where(LOCAL) in deletes[-1], deletes

        # every call the page made about either copy named its host
        loose = [u for _, u in calls if "uri=" not in u and "/kernelswitch/api/vms/" in u]
        assert not loose, f"calls without their host: {loose}"

        # and force off the remote one, asked first
        there.click(button="right")
        menu = page.locator(".lm-Menu").last
        menu.locator(".lm-Menu-item", has_text="Force off").click()
        page.locator(".jp-Dialog").get_by_role("button", name="Force off").click()
        expect(there).to_have_attribute("data-state", "shutoff", timeout=60_000)
        offs = [u for m, u in calls if m == "POST" and u.split("?")[0].endswith("/destroy")]
        assert offs and _where(remote) in offs[-1], offs
