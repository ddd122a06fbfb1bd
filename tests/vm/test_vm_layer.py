"""VM layer (foundation): libvirt defines and boots the test OS under TCG.

Independent of kernelswitch's domain builder on purpose: the XML is written
here with ElementTree, so this proves the host (libvirtd, QEMU, TCG, the test
ISO, permissions) and nothing else.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from .conftest import leftover_volumes, qemu_processes, unique_name, wait_serial

pytestmark = pytest.mark.vm


def _domain_xml(name: str, iso: Path, disk: str, serial_log: Path) -> str:
    dom = ET.Element("domain", type="qemu")  # TCG: nested KVM hangs guests here
    ET.SubElement(dom, "name").text = name
    ET.SubElement(dom, "memory", unit="MiB").text = "256"
    ET.SubElement(dom, "vcpu").text = "1"
    os_el = ET.SubElement(dom, "os")
    ET.SubElement(os_el, "type", arch="x86_64", machine="q35").text = "hvm"
    features = ET.SubElement(dom, "features")
    ET.SubElement(features, "acpi")
    devices = ET.SubElement(dom, "devices")
    cd = ET.SubElement(devices, "disk", type="file", device="cdrom")
    ET.SubElement(cd, "driver", name="qemu", type="raw")
    ET.SubElement(cd, "source", file=str(iso))
    ET.SubElement(cd, "target", dev="sda", bus="sata")
    ET.SubElement(cd, "readonly")
    ET.SubElement(cd, "boot", order="1")
    hd = ET.SubElement(devices, "disk", type="file", device="disk")
    ET.SubElement(hd, "driver", name="qemu", type="qcow2")
    ET.SubElement(hd, "source", file=disk)
    ET.SubElement(hd, "target", dev="vda", bus="virtio")
    serial = ET.SubElement(devices, "serial", type="file")
    ET.SubElement(serial, "source", path=str(serial_log))
    ET.SubElement(serial, "target", port="0")
    graphics = ET.SubElement(devices, "graphics", type="vnc")
    ET.SubElement(graphics, "listen", type="none")
    video = ET.SubElement(devices, "video")
    ET.SubElement(video, "model", type="vga")
    return ET.tostring(dom, encoding="unicode")


def test_define_boot_destroy_undefine(libvirt_conn: Any, testos: dict[str, Path]) -> None:
    from kernelswitch.vm.connection import get_connection
    from kernelswitch.vm.manager import log_dir
    from kernelswitch.vm.storage import Storage

    conn = libvirt_conn
    name = unique_name("layer")
    storage = Storage(get_connection())
    vol = storage.create_volume(name, 64 * 1024**2)
    serial_log = log_dir() / f"{name}.serial.log"
    serial_log.parent.mkdir(parents=True, exist_ok=True)
    dom = conn.defineXML(_domain_xml(name, testos["plain"], vol.path, serial_log))
    try:
        dom.create()
        assert dom.isActive()
        text = wait_serial(serial_log, timeout=90)
        assert "disks=sr0 vda" in text  # the initramfs loaded the disk modules
    finally:
        if dom.isActive():
            dom.destroy()
        dom.undefine()
        storage.delete_path(vol.path)
        serial_log.unlink(missing_ok=True)

    assert name not in [d.name() for d in conn.listAllDomains(0)]
    assert not [v for v in leftover_volumes(conn) if v.startswith(name)]
    assert not Path(vol.path).exists()
    assert qemu_processes(name) == []
