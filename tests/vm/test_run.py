"""VM engine, run part: real guests under libvirtd/QEMU (TCG) from the test OS.

Tests in this module share one booted guest (``booted_vm``) and run in file
order: info -> reboot -> suspend/resume -> ACPI shutdown -> start -> ignored
shutdown -> destroy -> delete keeping the disk.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import (
    PREFIX,
    leftover_volumes,
    qemu_processes,
    session_vms,
    unique_name,
    wait_serial,
)
from .guest import Events, ask

pytestmark = pytest.mark.vm

SMALL = {"os": "alpinelinux3.17", "memory": "256M", "disk": "1G", "cpus": 1}


def wait_state(manager: Any, name: str, state: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while manager.info(name)["state"] != state:
        if time.monotonic() > deadline:
            pytest.fail(f"{name} not {state} after {timeout:g} s: {manager.info(name)['state']}")
        time.sleep(0.2)


# ------------------------------------------------------------ shared guest


def test_create_identified_records_os_and_capped_resources(booted_vm: dict, testos) -> None:
    info = booted_vm
    assert info["state"] == "running"
    assert info["os_id"] == "http://fedoraproject.org/fedora/37"
    # fedora37 recommends 2G RAM; the test caps defaults at half of 2G, floored at its 1G minimum
    assert info["memory"] == 1024**3
    assert info["vcpus"] == 1
    assert info["type"] == "qemu"  # TCG
    assert info["id"] is not None
    [disk] = info["disks"]
    assert disk["format"] == "qcow2" and Path(disk["path"]).is_file()
    assert disk["capacity"] >= 10 * 1024**3  # fedora37's minimum disk
    assert [m["path"] for m in info["media"]] == [str(testos["fedora"])]
    # no console has shown it yet, so there is no preview: info names none (not a missing file)
    assert info["preview_path"] is None


def test_list_and_info(vm_manager: Any, booted_vm: dict) -> None:
    names = [vm["name"] for vm in vm_manager.list()]
    assert booted_vm["name"] in names
    again = vm_manager.info(booted_vm["name"])
    assert again["uuid"] == booted_vm["uuid"]


def test_reboot(vm_manager: Any, booted_vm: dict) -> None:
    name = booted_vm["name"]
    events = Events()
    with vm_manager.events(events):
        before = Path(booted_vm["serial_log"]).read_text().count("TESTOS-READY")
        vm_manager.reboot(name)
        wait_serial(booted_vm["serial_log"], count=before + 1)
        events.wait_for(lambda e: e.kind == "reboot" and e.vm == name)
    assert vm_manager.info(name)["state"] == "running"


def test_suspend_resume(vm_manager: Any, booted_vm: dict) -> None:
    name = booted_vm["name"]
    events = Events()
    with vm_manager.events(events):
        assert vm_manager.suspend(name)["state"] == "paused"
        events.wait_for(lambda e: e.vm == name and e.event == "suspended")
        from kernelswitch.vm.errors import VMStateError

        with pytest.raises(VMStateError, match="already paused"):
            vm_manager.suspend(name)
        assert vm_manager.resume(name)["state"] == "running"
        events.wait_for(lambda e: e.vm == name and e.event == "resumed")


def test_shutdown_by_acpi_then_start(vm_manager: Any, booted_vm: dict) -> None:
    name = booted_vm["name"]
    info = vm_manager.shutdown(name, timeout=60)
    assert info["state"] == "shutoff"
    assert info["id"] is None
    assert "TESTOS-POWEROFF" in Path(booted_vm["serial_log"]).read_text()
    assert vm_manager.start(name)["state"] == "running"
    wait_serial(booted_vm["serial_log"])


def test_shutdown_ignored_says_use_destroy(
    vm_manager: Any, booted_vm: dict, libvirt_conn: Any
) -> None:
    from kernelswitch.vm.manager import ShutdownTimeout

    name = booted_vm["name"]
    # Make the guest deaf to the power button: stop its acpid from its shell.
    assert ask(libvirt_conn, name, booted_vm["serial_log"], "killall acpid; echo gone") == "gone"
    with pytest.raises(ShutdownTimeout) as e:
        vm_manager.shutdown(name, timeout=3.0)
    assert "still running" in e.value.message and "destroy" in e.value.message
    assert vm_manager.info(name)["state"] == "running"
    assert vm_manager.destroy(name)["state"] == "shutoff"
    assert qemu_processes(name) == []


def test_state_errors(vm_manager: Any, booted_vm: dict) -> None:
    from kernelswitch.vm.errors import VMNotFound, VMStateError

    name = booted_vm["name"]
    for verb in ("destroy", "resume", "suspend", "reboot"):
        with pytest.raises(VMStateError):
            getattr(vm_manager, verb)(name)
    with pytest.raises(VMNotFound, match="no VM named"):
        vm_manager.info(PREFIX + "does-not-exist")


def test_delete_without_disks_keeps_them(vm_manager: Any, booted_vm: dict, libvirt_conn) -> None:
    name = booted_vm["name"]
    [disk] = [d["path"] for d in booted_vm["disks"]]
    answer = vm_manager.delete(name)
    assert answer["removed_disks"] == []
    assert [k["path"] for k in answer["kept_disks"]] == [disk]
    assert Path(disk).is_file()
    assert name not in vm_manager.names()
    assert vm_manager.storage.delete_path(disk)  # tidy up what we kept on purpose
    assert not Path(disk).exists()


# ------------------------------------------------------------ own guests


def test_unidentified_iso_lists_oses_then_os_flag_works(
    vm_manager: Any, testos: dict, libvirt_conn: Any
) -> None:
    from kernelswitch.vm.errors import OSNotIdentified

    name = unique_name("plain")
    before = (set(session_vms(vm_manager)), set(leftover_volumes(libvirt_conn)))
    with pytest.raises(OSNotIdentified) as e:
        vm_manager.create(name, str(testos["plain"]), memory="256M", disk="1G")
    assert len(e.value.details["oses"]) > 50
    assert "--os" in e.value.message
    assert (set(session_vms(vm_manager)), set(leftover_volumes(libvirt_conn))) == before

    info = vm_manager.create(name, str(testos["plain"]), start=False, **SMALL)
    assert info["state"] == "shutoff"
    assert info["os_id"] == "http://alpinelinux.org/alpinelinux/3.17"
    [disk] = [d["path"] for d in info["disks"]]
    answer = vm_manager.delete(name, disks=True)
    assert answer == {"name": name, "deleted": True, "removed_disks": [disk], "kept_disks": []}
    assert not Path(disk).exists()
    assert name not in vm_manager.names()


def test_delete_running_needs_force(vm_manager: Any, testos: dict) -> None:
    from kernelswitch.vm.errors import VMStateError

    name = unique_name("force")
    info = vm_manager.create(name, str(testos["plain"]), **SMALL)
    assert info["state"] == "running"
    with pytest.raises(VMStateError, match="--force"):
        vm_manager.delete(name, disks=True)
    assert name in vm_manager.names()
    answer = vm_manager.delete(name, disks=True, force=True)
    assert len(answer["removed_disks"]) == 1
    assert qemu_processes(name) == []


def test_twenty_cycles_leave_nothing(vm_manager: Any, testos: dict, libvirt_conn: Any) -> None:
    names = []
    for i in range(20):
        name = unique_name(f"cycle{i}")
        names.append(name)
        info = vm_manager.create(name, str(testos["plain"]), **SMALL)
        assert info["state"] == "running"
        vm_manager.delete(name, disks=True, force=True)
    domains = set(vm_manager.names())
    volumes = leftover_volumes(libvirt_conn)
    assert not [n for n in names if n in domains]
    assert not [v for v in volumes if any(v.startswith(n) for n in names)]
    assert not [p for n in names for p in qemu_processes(n)]


def test_failed_create_removes_only_what_it_made(
    vm_manager: Any, testos: dict, libvirt_conn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A define that fails after the disk exists: the disk goes, nothing else changes."""
    import kernelswitch.vm.domain as domain

    name = unique_name("fail")
    before = (set(session_vms(vm_manager)), set(leftover_volumes(libvirt_conn)))
    # A real libvirt refusal: an emulator that does not exist.
    real = domain.build_domain_xml

    def broken(*a: Any, **kw: Any) -> str:
        return real(*a, **kw).replace(
            "<devices>", "<devices><emulator>/nonexistent/qemu</emulator>"
        )

    monkeypatch.setattr(domain, "build_domain_xml", broken)
    from kernelswitch.vm.errors import VMError

    with pytest.raises(VMError):
        vm_manager.create(name, str(testos["plain"]), **SMALL)
    assert (set(session_vms(vm_manager)), set(leftover_volumes(libvirt_conn))) == before


def test_connection_dropped_by_daemon_reconnects() -> None:
    """libvirtd dropping our connection (as on a restart): the next call just works."""
    from kernelswitch.vm.connection import Connection
    from kernelswitch.vm.manager import VMManager

    before = _client_ids_of_this_process()
    conn = Connection("qemu:///session")  # its own link, so other fixtures keep theirs
    manager = VMManager(connection=conn)
    events = Events()
    remove = conn.add_listener(events)  # opens it
    try:
        ours = sorted(set(_client_ids_of_this_process()) - set(before))
        assert len(ours) == 1, ours
        subprocess.run(
            ["virt-admin", "client-disconnect", "libvirtd", ours[0]],
            check=True,
            capture_output=True,
        )
        events.wait_for(lambda e: e.kind == "connection" and e.event == "lost")
        assert isinstance(manager.names(), list)
        events.wait_for(lambda e: e.kind == "connection" and e.event == "restored")
    finally:
        remove()
        conn.close()


def _client_ids_of_this_process() -> list[str]:
    """libvirtd client ids opened by this process (virt-admin reports their pid)."""
    import os

    out = subprocess.run(
        ["virt-admin", "srv-clients-list", "libvirtd"], capture_output=True, text=True, check=True
    ).stdout
    ours = []
    for line in out.splitlines()[2:]:
        if not line.split():
            continue
        cid = line.split()[0]
        info = subprocess.run(
            ["virt-admin", "client-info", "libvirtd", cid], capture_output=True, text=True
        ).stdout
        fields = {k.strip(): v.strip() for k, _, v in (x.partition(":") for x in info.splitlines())}
        if fields.get("unix_process_id") == str(os.getpid()):
            ours.append(cid)
    return ours
