"""Read back what matters from a domain's XML (``dom.XMLDesc()``), for ``vm info``.

``parse_domain(xml) -> dict`` with keys: ``id`` (int, running domains only),
``name``, ``uuid``, ``type``, ``os_id`` (libosinfo URL or None), ``memory`` and
``current_memory`` (bytes), ``vcpus``, ``machine``, ``firmware``, ``disks``
(every ``<disk>``: device, path, target, bus, format, readonly, boot_order),
``media`` (the cdrom entries only; ``path`` None when ejected),
``interfaces`` (type, mac, model, network), ``graphics``, ``serial_log``.
Disk sizes are not in the XML: the manager adds them from libvirt.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from ..errors import VMError
from .builder import LIBOSINFO_NS

_UNITS = {
    "b": 1, "bytes": 1,
    "k": 1024, "kib": 1024, "kb": 1000,
    "m": 1024**2, "mib": 1024**2, "mb": 1000**2,
    "g": 1024**3, "gib": 1024**3, "gb": 1000**3,
    "t": 1024**4, "tib": 1024**4, "tb": 1000**4,
}  # fmt: skip


def _bytes(el: ET.Element | None) -> int | None:
    if el is None or not (el.text or "").strip():
        return None
    unit = (el.get("unit") or "KiB").lower()
    return int(el.text or "0") * _UNITS.get(unit, 1024)


def _disk(el: ET.Element) -> dict[str, Any]:
    src = el.find("source")
    path = None
    if src is not None:
        path = src.get("file") or src.get("dev") or src.get("volume") or src.get("name")
    target = el.find("target")
    driver = el.find("driver")
    boot = el.find("boot")
    alias = el.find("alias")
    return {
        "device": el.get("device", "disk"),
        "type": el.get("type"),
        "path": path,
        "pool": src.get("pool") if src is not None else None,
        "target": target.get("dev") if target is not None else None,
        "bus": target.get("bus") if target is not None else None,
        "format": driver.get("type") if driver is not None else None,
        "readonly": el.find("readonly") is not None,
        "boot_order": int(boot.get("order", "0")) if boot is not None else None,
        # libvirt writes tray='open' in the live XML only while it is open
        "tray": (target.get("tray") or "closed") if target is not None else "closed",
        # the live XML's device alias (``sata0-0-0``): what libvirt's tray events name
        "alias": alias.get("name") if alias is not None else None,
    }


def parse_domain(xml: str) -> dict[str, Any]:
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as e:
        raise VMError(f"internal: libvirt returned unparsable domain XML ({e})") from e
    if root.tag != "domain":
        raise VMError(f"internal: expected <domain>, got <{root.tag}>")
    os_el = root.find(f"./metadata/{{{LIBOSINFO_NS}}}libosinfo/{{{LIBOSINFO_NS}}}os")
    os_type = root.find("./os/type")
    vcpu = root.find("vcpu")
    disks = [_disk(d) for d in root.findall("./devices/disk")]
    interfaces = []
    for i in root.findall("./devices/interface"):
        mac = i.find("mac")
        model = i.find("model")
        src = i.find("source")
        interfaces.append(
            {
                "type": i.get("type"),
                "mac": mac.get("address") if mac is not None else None,
                "model": model.get("type") if model is not None else None,
                "network": src.get("network") if src is not None else None,
            }
        )
    graphics = [
        {"type": g.get("type"), "listen": [x.get("type") for x in g.findall("listen")]}
        for g in root.findall("./devices/graphics")
    ]
    serial_log = None
    for s in root.findall("./devices/serial"):
        src = s.find("source")
        log_el = s.find("log")
        if log_el is not None and log_el.get("file"):
            serial_log = log_el.get("file")  # a pty with a log (the serial terminal)
            break
        if s.get("type") == "file" and src is not None:
            serial_log = src.get("path")
            break
    os_root = root.find("os")
    firmware = os_root.get("firmware") if os_root is not None else None
    if not firmware:
        firmware = "efi" if root.find("./os/loader") is not None else "bios"
    dom_id = root.get("id")
    return {
        "id": int(dom_id) if dom_id and dom_id != "-1" else None,
        "name": root.findtext("name"),
        "uuid": root.findtext("uuid"),
        "type": root.get("type"),
        "os_id": os_el.get("id") if os_el is not None else None,
        "memory": _bytes(root.find("memory")),
        "current_memory": _bytes(root.find("currentMemory")),
        "vcpus": int(vcpu.text or "1") if vcpu is not None else None,
        "machine": os_type.get("machine") if os_type is not None else None,
        "firmware": firmware,
        "disks": disks,
        "media": [d for d in disks if d["device"] == "cdrom"],
        "interfaces": interfaces,
        "graphics": graphics,
        "serial_log": serial_log,
    }
