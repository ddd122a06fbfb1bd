"""VM fixtures: real libvirtd (qemu:///session), real QEMU under TCG, the test OS.

Every fixture fails (never skips) when libvirt, QEMU or a test ISO is missing.
Booting costs ~10 s under TCG, so one booted guest is shared by the session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: Every VM a test makes starts with this...
PREFIX = "kstvm-"
#: ... and with this session's token, so cleanup never touches anything else
#: (not even the VMs of a test session running in parallel).
SESSION_PREFIX = f"{PREFIX}{uuid.uuid4().hex[:4]}-"
MARKER = "KERNELSWITCH-TESTOS-READY"
BOOT_TIMEOUT = 90.0
URI = "qemu:///session"
GiB = 1024**3


def unique_name(tag: str = "") -> str:
    return f"{SESSION_PREFIX}{tag}{'-' if tag else ''}{uuid.uuid4().hex[:6]}"


def wait_serial(
    path: str | Path, needle: str = MARKER, count: int = 1, timeout: float = BOOT_TIMEOUT
) -> str:
    """The serial log once *needle* appears *count* times; fails after *timeout*."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        try:
            text = Path(path).read_text(errors="replace")
        except OSError:
            text = ""
        if text.count(needle) >= count:
            return text
        time.sleep(0.25)
    pytest.fail(
        f"{needle!r} x{count} not in the serial log {path} after {timeout:g} s:\n{text[-2000:]}"
    )


def session_vms(manager: Any) -> list[str]:
    """Names of this session's VMs (others' come and go while we run)."""
    return sorted(n for n in manager.names() if n.startswith(SESSION_PREFIX))


def qemu_processes(name: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,stat,args"], capture_output=True, text=True).stdout
    return [
        line
        for line in out.splitlines()
        if f"guest={name}," in line and " Z" not in line.split("qemu")[0]
    ]


def leftover_volumes(conn: Any) -> list[str]:
    """Volumes of any pool whose name says this test session made them."""
    names = []
    for pool in conn.listAllStoragePools(0):
        if not pool.isActive():
            continue
        pool.refresh(0)
        names += [v for v in pool.listVolumes() if v.startswith(SESSION_PREFIX)]
    return names


@pytest.fixture(scope="session")
def testos() -> dict[str, Path]:
    from kernelswitch._paths import testos_dir

    base = Path(os.environ.get("KERNELSWITCH_TESTOS_DIR") or testos_dir())
    isos = {"fedora": base / "testos-fedora.iso", "plain": base / "testos-plain.iso"}
    missing = [str(p) for p in isos.values() if not p.is_file()]
    if missing:
        pytest.fail(
            f"test OS image missing: {', '.join(missing)}; build it with "
            "`bash scripts/build-testos.sh`"
        )
    # The hypervisor user must read them as they are (nothing chmods a home
    # folder for the tests): say so here, not as a guest that fails to boot.
    from kernelswitch.vm.errors import InvalidVMSpec
    from kernelswitch.vm.spec import check_iso

    for iso in isos.values():
        try:
            check_iso(iso, uri=URI)
        except InvalidVMSpec as e:
            pytest.fail(f"test OS unusable: {e.message}")
    return isos


@pytest.fixture(scope="session")
def libvirt_conn() -> Iterator[Any]:
    try:
        import libvirt
    except ImportError as e:
        pytest.fail(f"libvirt-python is not installed: {e}")
    if not (shutil.which("qemu-system-x86_64") or os.path.exists("/usr/bin/qemu-system-x86_64")):
        pytest.fail("qemu-system-x86_64 is missing: apt-get install qemu-system-x86")
    try:
        conn = libvirt.open(URI)
    except libvirt.libvirtError as e:
        pytest.fail(f"cannot open {URI}: {e} (start `virtlogd -d; libvirtd -d`)")
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def vm_manager(libvirt_conn: Any) -> Iterator[Any]:
    from kernelswitch.vm.manager import VMManager

    manager = VMManager(URI)
    yield manager
    # Remove whatever a failed test left behind (only our prefix).
    for name in manager.names():
        if name.startswith(SESSION_PREFIX):
            try:
                manager.delete(name, disks=True, force=True)
            except Exception:
                pass
    # ... and disks of test VMs that never got defined (an interrupted run).
    try:
        usage = manager.storage_usage()
    except Exception:
        return
    for vol in usage["volumes"]:
        if vol["name"].startswith(SESSION_PREFIX):
            try:
                manager.storage.delete_path(vol["path"])
            except Exception:
                pass


@pytest.fixture(scope="session")
def test_limits() -> Any:
    """Host limits that cap recommended resources to what a test guest needs."""
    from kernelswitch.vm.host import HostLimits

    return HostLimits(memory=2 * GiB, cpus=1, disk=None)


@pytest.fixture(scope="session")
def booted_vm(vm_manager: Any, testos: dict[str, Path], test_limits: Any) -> Iterator[dict]:
    """One guest from the identified ISO, booted to the marker, shared by the session."""
    name = unique_name("shared")
    info = vm_manager.create(name, str(testos["fedora"]), limits=test_limits)
    wait_serial(info["serial_log"])
    yield info
    try:
        vm_manager.delete(name, disks=True, force=True)
    except Exception:
        pass


