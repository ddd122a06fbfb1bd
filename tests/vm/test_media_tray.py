"""Eject and insert on a running guest from every tray state found (issue 18).

A trial saw "'blockdev-insert-medium': Tray of the device is not open" after an
eject on a VM used for a while. The states tried here, each on the real guest:
a tray the guest opened (disc in, and empty) or opened and closed again, a
pause/resume between eject and insert, changes while paused, a reverted
snapshot (taken with the tray open, and taken ejected), and a guest whose OS
closes the tray as soon as it looks at the drive (the Linux cdrom driver's
autoclose, driven by a loop reading /dev/sr0, which also locks the tray).
The test OS's busybox has no ``eject`` applet; the guest's own kernel opens
the tray with ``/proc/sys/dev/cdrom/autoeject`` (the cdrom driver ejects when
the drive is closed, as ``eject`` does with its ioctl) and closes it by
reading the drive (the driver's autoclose). ``blockdev-open-tray`` (QEMU's
side of the same request) is used where only the tray matters. The records
say ``"tray": "open"|"closed"`` for every drive, as QEMU does.

Found here (QEMU 7.2, libvirt 9.0): a disc the guest ejected and that is
inserted again (the same ISO) stayed in an open tray, because libvirt skips a
change to the disc that is already there; insert now empties the drive and
puts the disc back then (media.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import unique_name, wait_serial
from .guest import ask, serial_run

pytestmark = pytest.mark.vm

SMALL = {"os": "alpinelinux3.17", "memory": "256M", "disk": "1G", "cpus": 1}
#: Seconds a guest command that reads the drive may take: a read right after a
#: disc change answers "medium changed" and is retried; generous for TCG on a
#: loaded host (the commands go over the serial shell: see guest.py).
DRIVE_WAIT = 150
MEDIUM = "dd if=/dev/sr0 of=/dev/null bs=2048 count=1 2>/dev/null && echo yes || echo no"
#: The guest's own eject: the cdrom driver opens the tray when the drive is closed.
GUEST_EJECT = ("echo 1 > /proc/sys/dev/cdrom/autoeject; dd if=/dev/sr0 of=/dev/null count=1 "
               "2>/dev/null; echo 0 > /proc/sys/dev/cdrom/autoeject; echo ok")  # fmt: skip


@pytest.fixture(scope="module")
def guest(vm_manager: Any, testos: dict) -> Iterator[dict]:
    name = unique_name("tray")
    info = vm_manager.create(name, str(testos["plain"]), **SMALL)
    wait_serial(info["serial_log"])
    yield info
    vm_manager.delete(name, disks=True, force=True)


@pytest.fixture(scope="module")
def ejecting_guest(vm_manager: Any, testos: dict) -> Iterator[dict]:
    """A guest of its own for the guest-ejected cases, so they start from a drive
    no other case has used (the one before them keeps a reader loop on it)."""
    name = unique_name("eject")
    info = vm_manager.create(name, str(testos["plain"]), **SMALL)
    wait_serial(info["serial_log"])
    yield info
    vm_manager.delete(name, disks=True, force=True)


def _qmp(conn: Any, name: str, command: str, **args: Any) -> Any:
    import libvirt_qemu

    msg = json.dumps({"execute": command, "arguments": args})
    return json.loads(libvirt_qemu.qemuMonitorCommand(conn.lookupByName(name), msg, 0))["return"]


def _guest_tray(conn: Any, name: str, how: str) -> None:
    """What the guest's eject (or load) does to QEMU's tray."""
    qdev = next(b["qdev"] for b in _qmp(conn, name, "query-block") if b.get("removable"))
    _qmp(conn, name, f"blockdev-{how}-tray", id=qdev)
    want = "open" if how == "open" else "closed"
    for _ in range(50):  # the event reaches libvirt's record asynchronously
        if _drive(conn, name)["tray"] == want:
            return
        time.sleep(0.1)


def _drive(conn: Any, name: str) -> dict:
    from kernelswitch.vm.manager import VMManager

    return VMManager("qemu:///session").info(name)["media"][0]


def _cycle(vm_manager: Any, guest: dict, iso: str) -> None:
    name = guest["name"]
    vm_manager.eject(name)
    assert vm_manager.info(name)["media"][0]["path"] is None
    info = vm_manager.insert(name, iso)
    assert info["media"][0]["path"] == iso


def test_tray_the_guest_opened(
    vm_manager: Any, guest: dict, libvirt_conn: Any, testos: dict
) -> None:
    name, iso = guest["name"], str(testos["plain"])
    assert _drive(libvirt_conn, name)["tray"] == "closed"
    _guest_tray(libvirt_conn, name, "open")  # disc in, tray open
    assert _drive(libvirt_conn, name)["tray"] == "open"
    info = vm_manager.eject(name)
    assert info["media"][0]["path"] is None
    vm_manager.insert(name, iso)
    assert _drive(libvirt_conn, name)["path"] == iso
    vm_manager.eject(name)
    _guest_tray(libvirt_conn, name, "open")  # empty drive, tray open
    vm_manager.insert(name, iso)
    assert _drive(libvirt_conn, name)["path"] == iso
    vm_manager.eject(name)
    _guest_tray(libvirt_conn, name, "open")  # opened and closed again by the guest
    _guest_tray(libvirt_conn, name, "close")
    vm_manager.insert(name, iso)
    assert _drive(libvirt_conn, name)["tray"] == "closed"
    seen = [ask(libvirt_conn, name, guest["serial_log"], MEDIUM, DRIVE_WAIT) for _ in range(2)]
    assert seen[-1] == "yes", seen
    # eject --force on an empty drive resets it instead of saying "no disc"
    vm_manager.eject(name)
    vm_manager.eject(name, force=True)
    vm_manager.insert(name, iso)


def test_pause_resume_and_paused(
    vm_manager: Any, guest: dict, libvirt_conn: Any, testos: dict
) -> None:
    name, iso = guest["name"], str(testos["plain"])
    dom = libvirt_conn.lookupByName(name)
    vm_manager.eject(name)
    dom.suspend()
    dom.resume()
    vm_manager.insert(name, iso)
    dom.suspend()
    try:
        _cycle(vm_manager, guest, iso)
    finally:
        dom.resume()
    assert _drive(libvirt_conn, name)["tray"] == "closed"


def test_reverted_snapshots(
    vm_manager: Any, guest: dict, libvirt_conn: Any, testos: dict
) -> None:
    name, iso = guest["name"], str(testos["plain"])
    _guest_tray(libvirt_conn, name, "open")
    vm_manager.snapshot_create(name, "tray-open", "")
    _guest_tray(libvirt_conn, name, "close")
    vm_manager.snapshot_revert(name, "tray-open")
    assert _drive(libvirt_conn, name)["tray"] == "open"
    _cycle(vm_manager, guest, iso)
    vm_manager.eject(name)
    vm_manager.snapshot_create(name, "ejected", "")
    vm_manager.insert(name, iso)
    vm_manager.snapshot_revert(name, "ejected")
    assert _drive(libvirt_conn, name)["path"] is None
    vm_manager.insert(name, iso)
    _cycle(vm_manager, guest, iso)


def test_guest_that_holds_or_keeps_reading_the_drive(
    vm_manager: Any, guest: dict, libvirt_conn: Any, testos: dict
) -> None:
    """A guest program with /dev/sr0 open locks the tray (Linux does): eject says
    so and changes nothing; eject --force takes the disc out; insert into the
    emptied drive works (its tray is forced open: nothing there to use). A
    guest that keeps reading the drive also closes an open tray whenever it
    opens the drive again: eject --force and insert still work every time."""
    from kernelswitch.vm.errors import VMStateError

    name, iso = guest["name"], str(testos["plain"])
    log = guest["serial_log"]
    # a read first: a disc just changed answers the first open with "medium changed"
    seen = [ask(libvirt_conn, name, guest["serial_log"], MEDIUM, DRIVE_WAIT) for _ in range(2)]
    assert seen[-1] == "yes", seen
    serial_run(libvirt_conn, name, log, "exec 3</dev/sr0")  # the shell holds the drive open
    held = ask(libvirt_conn, name, guest["serial_log"], "readlink /proc/$$/fd/3")
    assert held == "/dev/sr0", held
    try:
        with pytest.raises(VMStateError, match="keeps its CD/DVD drive locked"):
            vm_manager.eject(name)
        assert _drive(libvirt_conn, name)["path"] == iso
        vm_manager.eject(name, force=True)
        vm_manager.insert(name, iso)
        assert _drive(libvirt_conn, name)["path"] == iso
    finally:
        serial_run(libvirt_conn, name, log, "exec 3<&-")
    reader = "while :; do dd if=/dev/sr0 of=/dev/null count=1 2>/dev/null; done &"
    serial_run(libvirt_conn, name, log, reader)
    time.sleep(2)
    try:
        for _ in range(3):
            vm_manager.eject(name, force=True)
            assert _drive(libvirt_conn, name)["path"] is None
            vm_manager.insert(name, iso)
            assert _drive(libvirt_conn, name)["path"] == iso
    finally:
        serial_run(libvirt_conn, name, log, "kill %1")


def _guest_ejects(vm_manager: Any, guest: dict, libvirt_conn: Any) -> None:
    name = guest["name"]
    assert ask(libvirt_conn, name, guest["serial_log"], GUEST_EJECT, DRIVE_WAIT) == "ok"
    for _ in range(50):
        if _drive(libvirt_conn, name)["tray"] == "open":
            break
        time.sleep(0.1)
    drive = _drive(libvirt_conn, name)
    assert drive["tray"] == "open" and drive["path"], drive  # the disc is still in it
    assert _qemu_tray_open(libvirt_conn, name)


def _qemu_tray_open(conn: Any, name: str) -> bool:
    return bool(next(b for b in _qmp(conn, name, "query-block") if b.get("removable"))["tray_open"])


def _in_and_closed(libvirt_conn: Any, guest: dict, iso: str) -> None:
    """The disc is in, the tray closed (our record and QEMU agree), the guest reads it."""
    name = guest["name"]
    drive = _drive(libvirt_conn, name)
    assert drive["path"] == iso and drive["tray"] == "closed", drive
    assert not _qemu_tray_open(libvirt_conn, name)
    # the first read after a change answers "medium changed"
    seen = [ask(libvirt_conn, name, guest["serial_log"], MEDIUM, DRIVE_WAIT) for _ in range(2)]
    assert seen[-1] == "yes", seen


@pytest.mark.parametrize("disc", ["same", "other"])
def test_insert_into_the_tray_the_guest_ejected(
    vm_manager: Any, ejecting_guest: dict, libvirt_conn: Any, testos: dict, disc: str
) -> None:
    """The guest ejected its disc (tray open, disc still in): insert the same
    ISO or another one; then after a pause/resume, while paused, and after the
    guest closed the tray again itself."""
    guest = ejecting_guest
    name, plain = guest["name"], str(testos["plain"])
    dom = libvirt_conn.lookupByName(name)
    vm_manager.insert(name, plain)
    _in_and_closed(libvirt_conn, guest, plain)
    iso = plain if disc == "same" else str(testos["fedora"])

    _guest_ejects(vm_manager, guest, libvirt_conn)
    vm_manager.insert(name, iso)
    _in_and_closed(libvirt_conn, guest, iso)

    _guest_ejects(vm_manager, guest, libvirt_conn)
    dom.suspend()
    dom.resume()
    vm_manager.insert(name, iso)
    _in_and_closed(libvirt_conn, guest, iso)

    _guest_ejects(vm_manager, guest, libvirt_conn)
    dom.suspend()
    try:
        vm_manager.insert(name, iso)
        assert not _qemu_tray_open(libvirt_conn, name)
    finally:
        dom.resume()
    _in_and_closed(libvirt_conn, guest, iso)

    _guest_ejects(vm_manager, guest, libvirt_conn)
    # a read closes it (and may answer "medium changed")
    ask(libvirt_conn, name, guest["serial_log"], MEDIUM, DRIVE_WAIT)
    assert _drive(libvirt_conn, name)["tray"] == "closed"
    vm_manager.insert(name, iso)
    _in_and_closed(libvirt_conn, guest, iso)


def test_insert_after_reverting_to_a_guest_ejected_tray(
    vm_manager: Any, ejecting_guest: dict, libvirt_conn: Any, testos: dict
) -> None:
    guest = ejecting_guest
    name, iso = guest["name"], str(testos["plain"])
    vm_manager.insert(name, iso)
    _guest_ejects(vm_manager, guest, libvirt_conn)
    vm_manager.snapshot_create(name, "guest-ejected", "")
    # a read closes it (and may answer "medium changed")
    ask(libvirt_conn, name, guest["serial_log"], MEDIUM, DRIVE_WAIT)
    assert _drive(libvirt_conn, name)["tray"] == "closed"
    vm_manager.snapshot_revert(name, "guest-ejected")
    drive = _drive(libvirt_conn, name)
    assert drive["tray"] == "open" and _qemu_tray_open(libvirt_conn, name), drive
    vm_manager.insert(name, iso)
    _in_and_closed(libvirt_conn, guest, iso)
