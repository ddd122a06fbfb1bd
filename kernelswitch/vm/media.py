"""Eject and insert installer media (ISOs) in a VM's CD/DVD drive.

Public API (stable): :func:`eject` ``(manager, name, target=None, force=False)``
and :func:`insert` ``(manager, name, iso, target=None)``; both answer the VM's
info plus ``{"media_change": {...}}``. Reached as ``VMManager.eject/insert``.
:func:`check_before_start` ``(dom, name, uri)`` re-checks the discs at start.

Why both views: a running VM gets the change now (QEMU opens the tray, tray
events reach listeners through :class:`~.connection.Connection`) *and* in its
persistent definition, so the next boot sees the same drive — what virt-manager
does. The ISO is checked (exists, is ISO 9660, reachable by the hypervisor
user) before anything changes.
"""

from __future__ import annotations

import copy
import os
import time
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlsplit

from ._xml import disk_source, disk_target, find_disk, inactive_xml, live_xml, to_string
from .connection import libvirt_module
from .domain.devices import no_relabel
from .errors import InvalidVMSpec, VMStateError

__all__ = ["check_before_start", "eject", "insert"]


def _views(dom: Any) -> list[tuple[ET.Element, int]]:
    """(XML, flag) for each view to change: live when running, config when persistent."""
    libvirt = libvirt_module()
    views = []
    if dom.isActive():
        views.append((live_xml(dom), libvirt.VIR_DOMAIN_AFFECT_LIVE))
    if dom.isPersistent():
        views.append((inactive_xml(dom), libvirt.VIR_DOMAIN_AFFECT_CONFIG))
    return views


def _update(dom: Any, name: str, target: str | None, iso: str | None, force: bool) -> dict:
    views = _views(dom)
    # Check every view first, so a refusal changes nothing.
    drives = [(find_disk(root, target, device="cdrom", vm=name), flag) for root, flag in views]
    dev = disk_target(drives[0][0])
    before = disk_source(drives[0][0])
    live = bool(dom.isActive())
    if iso is None and not any(disk_source(d) for d, _f in drives):
        if force and live:  # nothing to take out, but reset the drive: tray forced open,
            _apply(dom, name, to_string(drives[0][0]), drives[0][1], True)  # then closed
            return {"target": dev, "before": None, "after": None, "live": True}
        raise VMStateError(
            f"VM {name!r} has no disc in {dev}: nothing to eject. "
            f"Insert one with `vm insert {name} PATH.iso`.",
            details={"name": name, "target": dev},
        )
    for drive, flag in drives:
        new = _without_tray(drive)
        src = new.find("source")
        if src is not None:
            new.remove(src)
        if iso is not None:
            new.set("type", "file")
            no_relabel(ET.SubElement(new, "source", {"file": iso}))
        # An empty drive has nothing the guest could be using: its tray is forced
        # open at once (no waiting for a guest that holds the drive open).
        _apply(dom, name, to_string(new), flag, force or (iso is not None and before is None))
        if iso is not None and flag == libvirt_module().VIR_DOMAIN_AFFECT_LIVE:
            _close_tray(dom, name, target, new, drive)
    return {"target": dev, "before": before, "after": iso, "live": live}


#: Seconds libvirt gets to record QEMU's "tray closed" event after a change.
TRAY_SETTLE = 1.5


def _tray_open(dom: Any, name: str, target: str | None, settle: float = TRAY_SETTLE) -> bool:
    """True when the live drive's tray is still open after *settle* seconds
    (QEMU's tray event reaches libvirt's record just after the change returns)."""
    deadline = time.monotonic() + settle
    while True:
        drive = find_disk(live_xml(dom), target, device="cdrom", vm=name)
        tgt = drive.find("target")
        if tgt is None or tgt.get("tray") != "open":
            return False
        if time.monotonic() >= deadline:
            return True
        time.sleep(0.1)


def _close_tray(dom: Any, name: str, target: str | None, new: ET.Element, old: ET.Element) -> None:
    """An insert ends with the disc in and the tray closed. libvirt skips a
    change to the disc that is already there, so a disc the guest ejected
    (its OS opened the tray: ``eject``, a desktop's eject button) and that is
    inserted again stayed in an open tray, which the guest sees as no disc
    (seen here on QEMU 7.2 / libvirt 9.0, also after a pause/resume and after
    reverting to a snapshot taken with the tray open). Then the drive is
    emptied and the disc put back: libvirt closes the tray after inserting."""
    if not _tray_open(dom, name, target):
        return
    libvirt = libvirt_module()
    empty = _without_tray(old)
    src = empty.find("source")
    if src is not None:
        empty.remove(src)
    live = libvirt.VIR_DOMAIN_AFFECT_LIVE
    _apply(dom, name, to_string(empty), live, True)  # forced: the tray is open anyway
    _apply(dom, name, to_string(_without_tray(new)), live, True)  # empty: nothing in use
    if _tray_open(dom, name, target):
        raise VMStateError(
            f"The disc is in VM {name!r}'s CD/DVD drive, but its tray stayed open (the "
            "guest opened it again). The guest's OS closes it when it next reads the "
            f"drive; or run `vm insert {name} PATH.iso` again.",
            details={"name": name},
        )


def _without_tray(drive: ET.Element) -> ET.Element:
    """A copy of *drive* without the live XML's ``tray`` state: libvirt refuses a
    change whose tray differs from the drive's ("cannot modify field 'tray'"),
    and the guest can move the tray between our read and the change."""
    new = copy.deepcopy(drive)
    target = new.find("target")
    if target is not None:
        target.attrib.pop("tray", None)
    return new


#: libvirt/QEMU errors that mean the tray moved under us (the guest closed it).
_TRAY_RACE = ("is not open",)
#: Attempts at a live change whose tray the guest keeps closing.
ATTEMPTS = 4


def _apply(dom: Any, name: str, xml: str, flag: int, force: bool) -> None:
    """One view's change. Live, libvirt opens the tray, swaps the medium and
    closes it; a guest whose OS closes an open tray as soon as it looks at the
    drive (udev probing after the change: a desktop distro) can close it between
    those steps, and QEMU refuses with "Tray of the device is not open" (seen on
    a VM used for a while). Then we try again with the tray forced open at once,
    which leaves the guest no time to close it.
    """
    libvirt = libvirt_module()
    extra = libvirt.VIR_DOMAIN_DEVICE_MODIFY_FORCE if force else 0
    live = flag == libvirt.VIR_DOMAIN_AFFECT_LIVE
    for attempt in range(ATTEMPTS):
        try:
            dom.updateDeviceFlags(xml, flag | extra)
            return
        except libvirt.libvirtError as e:
            text = str(e)
            if live and "waiting to open tray" in text:
                raise VMStateError(
                    f"The guest of VM {name!r} keeps its CD/DVD drive locked (the disc is "
                    "mounted, or a program has the drive open), so the tray did not open. "
                    f"Unmount it in the guest, or take it out anyway: `vm eject {name} --force`.",
                    details={"name": name, "libvirt": text},
                ) from e
            if not live or not any(s in text for s in _TRAY_RACE):
                raise
            if attempt == ATTEMPTS - 1:
                raise VMStateError(
                    f"The guest of VM {name!r} keeps closing its CD/DVD tray while the disc "
                    f"is changed ({text}). Try again; if it persists, run `eject /dev/sr0` "
                    "in the guest first, or shut the VM down and change the disc then.",
                    details={"name": name, "libvirt": text},
                ) from e
            extra = libvirt.VIR_DOMAIN_DEVICE_MODIFY_FORCE
            time.sleep(0.2 * (attempt + 1))


def eject(manager: Any, name: str, target: str | None = None, force: bool = False) -> dict:
    """Empty the drive *target* (the only CD/DVD drive when None)."""
    change = manager._monitor(
        name, lambda dom: _update(dom, name, target, None, force), "ejecting its disc"
    )
    return {**manager.info(name), "media_change": change}


def insert(manager: Any, name: str, iso: str, target: str | None = None) -> dict:
    """Put *iso* in the drive (replacing a disc that is there)."""
    from .spec import check_iso

    path = str(check_iso(iso, uri=manager.uri))
    change = manager._monitor(
        name, lambda dom: _update(dom, name, target, path, False), "changing its disc"
    )
    return {**manager.info(name), "media_change": change}


def check_before_start(dom: Any, name: str, uri: str) -> None:
    """Re-check every disc of the (shut off) VM right before QEMU opens it.

    Create and insert checked the ISO and stored its real path, but the file
    may have changed since: removed, made unreadable, or replaced by a link
    (to a root-only file, say). Refuse with the fix rather than let QEMU open
    something nobody checked. Discs defined before kernelswitch asked libvirt
    not to relabel them get ``relabel='no'`` added to the definition here, so
    no start chowns a user's ISO.
    """
    from .spec import check_iso

    parts = urlsplit(uri)
    if parts.hostname:  # the files are on another host: libvirt there checks them
        return
    libvirt = libvirt_module()
    for drive in inactive_xml(dom).findall("./devices/disk[@device='cdrom']"):
        path, src = disk_source(drive), drive.find("source")
        if not path or src is None:
            continue
        dev = disk_target(drive)
        details = {"name": name, "target": dev, "iso": path}
        real = os.path.realpath(path)
        if real != path:
            raise VMStateError(
                f"Cannot start VM {name!r}: the ISO in drive {dev}, {path!r}, is now a link "
                f"to {real!r}. VMs start only on the file that was checked; insert the file "
                f"itself (`vm insert {name} {real}`) or eject the disc (`vm eject {name}`).",
                details=details,
            )
        try:
            check_iso(path, uri=uri)
        except InvalidVMSpec as e:
            raise VMStateError(
                f"Cannot start VM {name!r}: the disc in drive {dev} is not usable. "
                f"{e.message} Or eject it: `vm eject {name}`.",
                details={**details, **e.details},
            ) from e
        label = src.find("seclabel")
        labelled = label is not None and label.get("relabel") == "no"
        if parts.scheme.startswith("qemu") and dom.isPersistent() and not labelled:
            new = copy.deepcopy(drive)
            new_src = new.find("source")
            assert new_src is not None
            for old in new_src.findall("seclabel"):
                new_src.remove(old)
            no_relabel(new_src)
            dom.updateDeviceFlags(to_string(new), libvirt.VIR_DOMAIN_AFFECT_CONFIG)
