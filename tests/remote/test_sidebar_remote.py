"""The VM sidebar with a remote host beside the local one, in real Chromium against a
real JupyterLab: VMs grouped under their host's name, the host marked unreachable
while its sshd is down and back when it returns (all pushed by the events websocket).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.jupyter import RunningServer
from support.lab_shell import open_vm_sidebar

from .conftest import chromium_page, host_alias, remote_shutoff_vm
from .sshhost import SSHHost


@pytest.fixture(scope="module")
def remote_off_vm(ssh_host: SSHHost, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A shut-off VM on the remote host (defined from an uploaded ISO, never booted)."""
    return remote_shutoff_vm(ssh_host, tmp_path_factory, "side")


@pytest.fixture(scope="module")
def lab2(two_host_lab: tuple[RunningServer, Path]) -> RunningServer:
    return two_host_lab[0]


def test_sidebar_groups_by_host_and_follows_the_host_down_and_back(
    lab2: RunningServer, ssh_host: SSHHost, remote_off_vm: dict, shots: Path
) -> None:
    from playwright.sync_api import expect

    there = host_alias(ssh_host)
    with chromium_page() as page:
        sidebar = open_vm_sidebar(page, lab2, "ks-remote")
        header = sidebar.locator(".ks-VMSidebar-uri", has_text=there)
        expect(header).to_be_visible()
        expect(header).to_have_attribute("title", ssh_host.uri())
        row = sidebar.locator(f'.ks-VMSidebar-vm[data-ks-vm="{remote_off_vm["name"]}"]')
        expect(row).to_have_attribute("data-uri", ssh_host.uri())
        row.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "remote-sidebar-hosts.png"))

        ssh_host.stop()
        try:
            down = sidebar.locator(".ks-VMSidebar-hostDown", has_text=there)
            expect(down).to_contain_text("is not reachable", timeout=15_000)
            page.screenshot(path=str(shots / "remote-sidebar-host-down.png"))
        finally:
            ssh_host.start()
        expect(down).to_have_count(0, timeout=60_000)
        expect(row).to_be_visible()
