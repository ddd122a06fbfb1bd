"""Small shared helpers for the "manage" modules: a domain's XML as objects, flags.

Private to ``vm/``: media, snapshots, clone, edit and disks each read the
domain's XML (live and persistent views) and choose libvirt's LIVE/CONFIG
flags the same way, so that logic lives once here.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from .connection import libvirt_module
from .errors import DiskNotFound


def inactive_xml(dom: Any) -> ET.Element:
    """The persistent definition (what the next boot uses)."""
    return ET.fromstring(dom.XMLDesc(libvirt_module().VIR_DOMAIN_XML_INACTIVE))


def live_xml(dom: Any) -> ET.Element:
    return ET.fromstring(dom.XMLDesc(0))


def affect_flags(dom: Any) -> int:
    """CONFIG always (persistent VMs), LIVE too when it runs: change both views at once."""
    libvirt = libvirt_module()
    flags = 0
    if dom.isPersistent():
        flags |= libvirt.VIR_DOMAIN_AFFECT_CONFIG
    if dom.isActive():
        flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
    return flags


def disk_source(disk: ET.Element) -> str | None:
    src = disk.find("source")
    if src is None:
        return None
    return src.get("file") or src.get("dev") or src.get("volume") or src.get("name")


def disk_target(disk: ET.Element) -> str:
    target = disk.find("target")
    return target.get("dev", "") if target is not None else ""


def find_disk(root: ET.Element, wanted: str | None, *, device: str, vm: str) -> ET.Element:
    """The ``<disk device=...>`` whose target (``sda``) or path is *wanted*.

    With *wanted* None the VM must have exactly one such device.
    """
    disks = [d for d in root.findall("./devices/disk") if d.get("device", "disk") == device]
    what = "CD/DVD drive" if device == "cdrom" else "disk"
    names = [disk_target(d) for d in disks]
    if wanted is None:
        if len(disks) == 1:
            return disks[0]
        if not disks:
            raise DiskNotFound(f"VM {vm!r} has no {what}.", details={"name": vm})
        msg = f"VM {vm!r} has {len(disks)} {what}s ({', '.join(names)}); name one with --target."
        raise DiskNotFound(msg, details={"name": vm, "targets": names})
    for d in disks:
        if wanted in (disk_target(d), disk_source(d)):
            return d
    msg = f"VM {vm!r} has no {what} {wanted!r}; it has: {', '.join(names) or 'none'}."
    raise DiskNotFound(msg, details={"name": vm, "targets": names})


def to_string(el: ET.Element) -> str:
    return ET.tostring(el, encoding="unicode")
