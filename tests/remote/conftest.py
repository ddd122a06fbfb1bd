"""Remote-host tests: a real sshd and a second libvirtd (a user's session daemon) here.

The "remote" host is ``qemu+ssh://ksremote@127.0.0.1:PORT/session`` behind a
private sshd (:mod:`.sshhost`). Every fixture fails, never skips, when a part
is missing. Teardown removes the VMs and volumes this session made there,
stops the sshd and ends the user's session daemon (by pid).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from .sshhost import SSHD, USER, SSHHost, kill_user_daemons

LOCAL = "qemu:///session"
#: A small guest of the test OS (most tests here only define it)
GUEST = {"os": "alpinelinux3.17", "memory": "256M", "disk": "1G", "cpus": 1}

#: The remote user's pool for disks and uploaded ISOs (made through libvirt, as an admin would).
POOL = "default"
#: Its folder (the "remote" host is this machine: tests can look into it)
POOL_DIR = Path(f"/home/{USER}/kernelswitch-test-pool")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.vm)


def _need_tools() -> None:
    if os.geteuid() != 0:
        pytest.fail("the remote-host tests make a user and run an sshd: run them as root")
    for tool in (SSHD, "ssh", "ssh-keygen", "virt-ssh-helper", "useradd"):
        if shutil.which(tool) is None and not os.path.exists(tool):
            pytest.fail(f"{tool} is missing: run scripts/setup.sh --test "
                        "(apt-get install openssh-server openssh-client)")  # fmt: skip


def _ensure_pool(uri: str) -> None:
    """A directory pool in the remote user's home (defined once, then reused)."""
    import xml.etree.ElementTree as ET

    from kernelswitch.vm.connection import get_connection

    def ensure(conn: Any) -> None:
        names = [p.name() for p in conn.listAllStoragePools(0)]
        if POOL in names:
            pool = conn.storagePoolLookupByName(POOL)
        else:
            xml = ET.Element("pool", type="dir")
            ET.SubElement(xml, "name").text = POOL
            target = ET.SubElement(xml, "target")
            ET.SubElement(target, "path").text = str(POOL_DIR)
            pool = conn.storagePoolDefineXML(ET.tostring(xml, encoding="unicode"), 0)
            pool.build(0)
        if not pool.isActive():
            pool.create(0)

    get_connection(uri).call(ensure)


@pytest.fixture(scope="session")
def ssh_host() -> Iterator[SSHHost]:
    """The remote host, up; torn down with everything this session made there."""
    _need_tools()
    # not under pytest's 0700 root folder: sshd reads the authorized keys as the user
    folder = Path(tempfile.mkdtemp(prefix="ks-remote-ssh-"))
    host = SSHHost(folder)
    host.prepare()
    host.start()
    try:
        deadline = time.monotonic() + 60
        while True:  # the first open starts the user's daemon (virt-ssh-helper)
            try:
                _ensure_pool(host.uri())
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        yield host
    finally:
        try:
            host.start()
            _sweep(host.uri())
        except Exception as e:  # the daemon is ended below anyway
            print(f"remote sweep failed: {e}")
        from kernelswitch.vm.connection import get_connection

        get_connection(host.uri()).close()
        host.stop()
        kill_user_daemons()
        shutil.rmtree(folder, ignore_errors=True)



def host_alias(ssh_host: SSHHost) -> str:
    """How the remote host is named for people: ``user@host:port``."""
    return f"{USER}@127.0.0.1:{ssh_host.port}"


def two_host_server_config(ssh_host: SSHHost) -> dict[str, Any]:
    """A ``jp_server_config`` with kernelswitch on this host and the remote one."""
    from support.jp import ks_server_config

    return ks_server_config(libvirt_uris=[LOCAL, ssh_host.uri()],
                            ssh_known_hosts=str(ssh_host.known_hosts))  # fmt: skip


def remote_shutoff_vm(ssh_host: SSHHost, tmp_path_factory: pytest.TempPathFactory,
                      tag: str) -> dict[str, Any]:  # fmt: skip
    """A shut-off VM on the remote host, defined from an ISO uploaded there (an ISO of
    this session's own name, so the sweep removes it), never booted."""
    from vm.conftest import unique_name

    from kernelswitch._paths import testos_dir
    from kernelswitch.vm.manager import VMManager

    name = unique_name(tag)
    iso = tmp_path_factory.mktemp("iso") / f"{name}.iso"
    shutil.copy(testos_dir() / "testos-plain.iso", iso)
    return VMManager(ssh_host.uri()).create(name, str(iso), start=False, **GUEST)


@pytest.fixture(scope="session")
def shots() -> Path:
    """Where browser tests leave screenshots (read before the per-test cache override)."""
    from kernelswitch._paths import cache_dir

    folder = Path(os.environ.get("KERNELSWITCH_SCREENSHOTS_DIR") or cache_dir() / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_manager(page: Any, lab: Any, workspace: str, notebook: str) -> Any:
    """Open *notebook*, run its first cell (a ``%vm manager``) and wait for the
    manager to be ready; its locator."""
    from playwright.sync_api import expect
    from support.notebooks import open_notebook

    cell = open_notebook(page, lab, workspace, notebook).locator(".jp-CodeCell").first
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    manager = cell.locator(".ks-vmm")
    expect(manager).to_have_attribute("data-state", "ready", timeout=60_000)
    return manager


@contextmanager
def chromium_page(height: int = 800) -> Iterator[Any]:
    """A page of a real Chromium, 1280 px wide, closed after the block."""
    from browser.conftest import CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": height}).new_page()
            page.set_default_timeout(60_000)
            yield page
        finally:
            browser.close()


def two_host_env(base: Path, ssh_host: SSHHost, root: Path, *, lab: bool = False,
                 uris: list[str] | None = None) -> dict[str, str]:  # fmt: skip
    """The environment of a Jupyter server in *base* with kernelswitch on this host
    and the remote one (*uris*: those instead); *lab* adds the labextension."""
    config = base / "config"
    config.mkdir()
    settings: dict[str, Any] = {
        "ServerApp": {"jpserver_extensions": {"kernelswitch": True}},
        "KernelSwitchApp": {"libvirt_uris": uris or [LOCAL, ssh_host.uri()],
                            "ssh_known_hosts": str(ssh_host.known_hosts),
                            "env_roots": [str(root)], "env_depth": 1},
    }  # fmt: skip
    if lab:
        from browser.conftest import LABEXTENSION

        labext = base / "labextensions"
        labext.mkdir()
        (labext / "kernelswitch").symlink_to(LABEXTENSION, target_is_directory=True)
        settings["LabApp"] = {"extra_labextensions_path": [str(labext)], "news_url": None}
        # no "Jupyter news?" toast over the screenshots (the feed is offline anyway)
        notification = (base / "settings" / "@jupyterlab" / "apputils-extension"
                        / "notification.jupyterlab-settings")  # fmt: skip
        notification.parent.mkdir(parents=True)
        notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    (config / "jupyter_server_config.json").write_text(json.dumps(settings))
    return {
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(base / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
    }


@pytest.fixture(scope="module")
def two_host_lab(
    ssh_host: SSHHost, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, Path]]:
    """A JupyterLab with kernelswitch on both hosts (this one first): (server, root)."""
    from support.jupyter import jupyter_server

    base = tmp_path_factory.mktemp("lab-hosts")
    root = base / "root"
    root.mkdir()
    env = two_host_env(base, ssh_host, root, lab=True)
    with jupyter_server(root, app="lab", env=env, timeout=120) as server:
        yield server, root


def _sweep(uri: str) -> None:
    """Remove this session's VMs, disks, logs and uploaded ISOs on the remote host."""
    from vm.conftest import SESSION_PREFIX

    from kernelswitch.vm.connection import get_connection
    from kernelswitch.vm.manager import VMManager

    manager = VMManager(uri)
    for name in manager.names():
        if name.startswith(SESSION_PREFIX):
            manager.delete(name, disks=True, force=True)

    def volumes(conn: Any) -> None:
        pool = conn.storagePoolLookupByName(POOL)
        pool.refresh(0)
        for vol in pool.listAllVolumes(0):
            if vol.name().startswith(SESSION_PREFIX) or vol.name().startswith("testos-"):
                vol.delete(0)

    get_connection(uri).call(volumes)
