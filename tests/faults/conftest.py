"""Fault tests: a private libvirtd (tests/faults/daemon.py) we may kill at will.

Every fixture fails (never skips) when a component is missing. The shared
daemon other engineers use is checked to be the same process before and after.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from .daemon import PrivateLibvirtd, shared_daemon_pid

#: The guest: the unidentified test ISO as a small machine (boots in ~11 s under TCG).
GUEST = {"os": "alpinelinux3.17", "memory": "256M", "disk": "1G", "cpus": 1}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.vm)
            item.add_marker(pytest.mark.server)


def _need_tools() -> None:
    if os.geteuid() != 0:
        pytest.fail("the fault tests run their own libvirtd in a mount namespace: run as root")
    for tool in ("libvirtd", "unshare", "nsenter"):
        if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}"):
            pytest.fail(f"{tool} is missing (apt-get install libvirt-daemon-system util-linux)")


def make_daemon(pool_tmpfs: str | None = None) -> Iterator[PrivateLibvirtd]:
    """A started private daemon with our pool; everything in it killed afterwards."""
    _need_tools()
    shared = shared_daemon_pid()
    daemon = PrivateLibvirtd(pool_tmpfs)
    try:
        daemon.start()
        daemon.define_pool()
        with pytest.MonkeyPatch.context() as mp:
            # disks (and serial logs, next to them) go to the daemon's folder
            mp.setenv("KERNELSWITCH_POOL_DIR", str(daemon.pool_dir))
            yield daemon
    finally:
        from kernelswitch.vm.connection import get_connection

        get_connection(daemon.uri).close()
        daemon.destroy()
    # the shared daemon is untouched: the same process as before, still running
    assert shared_daemon_pid() == shared, "the shared libvirtd changed while we ran"


@pytest.fixture(scope="module")
def private_libvirtd() -> Iterator[PrivateLibvirtd]:
    yield from make_daemon()


@pytest.fixture
def jp_server_config(private_libvirtd: PrivateLibvirtd) -> dict:
    return {
        "ServerApp": {"jpserver_extensions": {"kernelswitch": True}},
        "KernelSwitchApp": {"libvirt_uris": [private_libvirtd.uri]},
    }


def guest_iso() -> Path:
    from kernelswitch._paths import testos_dir

    iso = Path(os.environ.get("KERNELSWITCH_TESTOS_DIR") or testos_dir()) / "testos-plain.iso"
    if not iso.is_file():
        pytest.fail(f"test OS image missing: {iso}; build it with `bash scripts/build-testos.sh`")
    return iso


@pytest.fixture(scope="module")
def fault_guest(private_libvirtd: PrivateLibvirtd) -> Iterator[dict]:
    """One running test-OS guest on the private daemon, shared by the module."""
    from vm.conftest import unique_name, wait_serial

    from kernelswitch.vm.manager import VMManager

    manager = VMManager(private_libvirtd.uri)
    info = manager.create(unique_name("faults"), str(guest_iso()), **GUEST)
    wait_serial(info["serial_log"])
    yield info
    try:
        manager.delete(info["name"], disks=True, force=True)
    except Exception as e:  # the namespace teardown kills it anyway
        print(f"fault_guest: could not delete {info['name']}: {e}")


def domains_and_volumes(uri: str) -> tuple[list[str], list[str]]:
    """Every domain and every volume of every pool the daemon has (straight from libvirt)."""
    import libvirt

    conn = libvirt.open(uri)
    try:
        doms = sorted(d.name() for d in conn.listAllDomains(0))
        vols: list[str] = []
        for pool in conn.listAllStoragePools(0):
            if pool.isActive():
                pool.refresh(0)
                vols += [v.path() for v in pool.listAllVolumes(0)]
        return doms, sorted(vols)
    finally:
        conn.close()


__all__ = ["GUEST", "domains_and_volumes", "guest_iso", "make_daemon"]
