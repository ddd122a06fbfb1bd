"""The VM sidebar with a remote host beside the local one, in real Chromium against a
real JupyterLab: VMs grouped under their host's name, the host marked unreachable
while its sshd is down and back when it returns (all pushed by the events websocket).
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path
from typing import Any

import pytest
from browser.conftest import CHROMIUM_ARGS
from support.jupyter import RunningServer

from .sshhost import SSHHost

LOCAL = "qemu:///session"
GUEST = {"os": "alpinelinux3.17", "memory": "256M", "disk": "1G", "cpus": 1}


@pytest.fixture(scope="module")
def remote_off_vm(ssh_host: SSHHost, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A shut-off VM on the remote host (defined from an uploaded ISO, never booted)."""
    from vm.conftest import unique_name

    from kernelswitch._paths import testos_dir
    from kernelswitch.vm.manager import VMManager

    name = unique_name("side")
    iso = tmp_path_factory.mktemp("iso") / f"{name}.iso"
    shutil.copy(testos_dir() / "testos-plain.iso", iso)
    return VMManager(ssh_host.uri()).create(name, str(iso), start=False, **GUEST)


@pytest.fixture(scope="module")
def lab2(two_host_lab: tuple[RunningServer, Path]) -> RunningServer:
    return two_host_lab[0]


@pytest.fixture(scope="session")
def shots() -> Path:
    """Where browser tests leave screenshots (read before the per-test cache override)."""
    import os

    from kernelswitch._paths import cache_dir

    folder = Path(os.environ.get("KERNELSWITCH_SCREENSHOTS_DIR") or cache_dir() / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_sidebar_groups_by_host_and_follows_the_host_down_and_back(
    lab2: RunningServer, ssh_host: SSHHost, remote_off_vm: dict, shots: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    alias = f"ksremote@127.0.0.1:{ssh_host.port}"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page: Any = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            page.set_default_timeout(60_000)
            page.goto(f"{lab2.url}lab/workspaces/ks-remote-{secrets.token_hex(4)}"
                      f"?token={lab2.token}")  # fmt: skip
            tab = page.locator('.jp-SideBar .lm-TabBar-tab[data-id="kernelswitch-vms"]')
            expect(tab).to_be_visible(timeout=90_000)
            tab.click()
            sidebar = page.locator(".ks-VMSidebar")
            expect(sidebar).to_have_attribute("data-status", "live", timeout=30_000)
            header = sidebar.locator(".ks-VMSidebar-uri", has_text=alias)
            expect(header).to_be_visible()
            expect(header).to_have_attribute("title", ssh_host.uri())
            row = sidebar.locator(f'.ks-VMSidebar-vm[data-ks-vm="{remote_off_vm["name"]}"]')
            expect(row).to_have_attribute("data-uri", ssh_host.uri())
            row.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "remote-sidebar-hosts.png"))

            ssh_host.stop()
            try:
                down = sidebar.locator(".ks-VMSidebar-hostDown", has_text=alias)
                expect(down).to_contain_text("is not reachable", timeout=15_000)
                page.screenshot(path=str(shots / "remote-sidebar-host-down.png"))
            finally:
                ssh_host.start()
            expect(down).to_have_count(0, timeout=60_000)
            expect(row).to_be_visible()
        finally:
            browser.close()
