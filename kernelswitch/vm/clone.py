"""Clone a VM: a full copy of every disk, a new name, UUID and MACs.

Public API (stable): :func:`clone` ``(manager, name, new_name, progress=None)``,
reached as ``VMManager.clone``. Answers the clone's info plus
``clone: {source, copied: [{target, from, to}]}``.

Why the source must be off: copying the disk of a running guest gives a torn
image (the guest writes while we read). virt-clone also accepts a paused
source, but a paused QEMU still holds the image's write lock and unflushed
qcow2 caches, so the copy would either fail or be inconsistent: we refuse a
running or paused source and say how to shut it down. The source's disks are
only read. Read-only media (ISOs) are shared, not copied. Anything made before
a failure is removed.
"""

from __future__ import annotations

import uuid as _uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._xml import disk_source, disk_target, inactive_xml, to_string
from .connection import libvirt_module
from .errors import VMError, VMExists, VMStateError
from .journal import journal_for

__all__ = ["clone"]

def _copy_volume(
    manager: Any, src_path: str, new_vm: str, say: Callable[[str], None], op: Any
) -> str:
    """A full copy of the volume at *src_path* in our pool, named after *new_vm*.

    The new path goes into the journal (*op*) before the copy starts."""
    libvirt = libvirt_module()

    def copy(conn: Any) -> str:
        try:
            src = conn.storageVolLookupByPath(src_path)
        except libvirt.libvirtError as e:
            msg = (
                f"The disk {src_path} is not in a libvirt storage pool, so kernelswitch cannot "
                "copy it. Move it into the pool folder first."
            )
            raise VMError(msg, details={"path": src_path}) from e
        pool = manager.storage._pool(conn)
        pool.refresh(0)
        existing = set(pool.listVolumes())
        directory = manager.storage._pool_path(pool)
        fmt = ET.fromstring(src.XMLDesc(0)).find("./target/format")
        name, n = f"{new_vm}.qcow2", 1
        while name in existing or (directory / name).exists():
            name, n = f"{new_vm}-{n}.qcow2", n + 1
        _type, capacity, allocation = src.info()
        vol = ET.Element("volume")
        ET.SubElement(vol, "name").text = name
        ET.SubElement(vol, "capacity", unit="bytes").text = str(capacity)
        target = ET.SubElement(vol, "target")
        fmt_type = fmt.get("type", "qcow2") if fmt is not None else "qcow2"
        ET.SubElement(target, "format", type=fmt_type)
        if fmt_type == "qcow2":
            ET.SubElement(target, "compat").text = "1.1"  # libvirt's default is the old v2
        from .._common import human_size

        say(f"copying {Path(src_path).name} ({human_size(allocation or 1)} used) to {name}")
        op.will_make("volume", str(directory / name))
        return pool.createXMLFrom(to_string(vol), src, 0).path()

    return manager._call(copy)


def clone(
    manager: Any,
    name: str,
    new_name: str,
    *,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    from .manager import log_dir
    from .spec import check_name

    say = progress or (lambda _m: None)
    existing = manager.names()
    if new_name in existing:
        raise VMExists(
            f"A VM named {new_name!r} already exists. Choose another name for the clone.",
            details={"name": new_name},
        )
    check_name(new_name, existing)

    def prepare(dom: Any) -> ET.Element:
        state = manager._state(dom)
        if state not in ("shutoff", "crashed"):
            raise VMStateError(
                f"VM {name!r} is {state}: its disks can only be copied while it is off (a "
                "running or paused guest's disk is in use and would give a torn copy). Shut it "
                f"down with `vm shutdown {name}`, then clone it.",
                details={"name": name, "state": state},
            )
        return inactive_xml(dom)

    root = manager._on_domain(name, prepare)
    copied: list[dict[str, str]] = []
    op = journal_for(manager.connection).begin("clone", new_name)
    try:
        for disk in root.findall("./devices/disk"):
            path = disk_source(disk)
            shared = disk.find("readonly") is not None or disk.find("shareable") is not None
            if disk.get("device", "disk") != "disk" or not path or shared:
                continue
            new_path = _copy_volume(manager, path, new_name, say, op)
            op.made(new_path)
            copied.append({"target": disk_target(disk), "from": path, "to": new_path})
            src = disk.find("source")
            assert src is not None  # disk_source found a path in it
            for key in ("file", "dev", "volume", "pool"):
                src.attrib.pop(key, None)
            disk.set("type", "file")
            src.set("file", new_path)
        _retarget(root, new_name, log_dir())
        uuid = str(_uuid.uuid4())
        ET.SubElement(root, "uuid").text = uuid
        say(f"defining {new_name}")
        op.will_make("domain", uuid, name=new_name)
        manager._call(lambda conn: conn.defineXML(to_string(root)), new_name)
        op.made(uuid)
        info = manager.info(new_name)
    except BaseException as e:
        outcome = op.undo()
        outcome.annotate(e)
        raise
    op.commit()
    say("done")
    info["clone"] = {"source": name, "copied": copied}
    return info


def _retarget(root: ET.Element, new_name: str, logs: Path) -> None:
    """Make the copied definition the clone's: name, no UUID/MACs/NVRAM path, own serial log."""
    name_el = root.find("name")
    if name_el is not None:
        name_el.text = new_name
    for tag in ("uuid", "title"):
        el = root.find(tag)
        if el is not None:
            root.remove(el)
    # libvirt generates a fresh UUID and MACs when they are absent.
    for iface in root.findall("./devices/interface"):
        mac = iface.find("mac")
        if mac is not None:
            iface.remove(mac)
    os_el = root.find("os")
    nvram = os_el.find("nvram") if os_el is not None else None
    if os_el is not None and nvram is not None:
        os_el.remove(nvram)  # a fresh NVRAM from the firmware's template
    for serial in root.findall("./devices/serial"):
        src = serial.find("source")
        if serial.get("type") == "file" and src is not None:
            logs.mkdir(parents=True, exist_ok=True)
            src.set("path", str(logs / f"{new_name}.serial.log"))
