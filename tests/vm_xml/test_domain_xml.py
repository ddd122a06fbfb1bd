"""Golden-file tests for generated domain XML (virtinst's diff_compare pattern).

Regenerate after an intended change with ``KERNELSWITCH_REGEN_GOLDEN=1 pytest
tests/vm_xml`` and review the diff of ``tests/vm_xml/golden/``.
"""

from __future__ import annotations

import difflib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kernelswitch.vm import osinfo
from kernelswitch.vm.domain import LIBOSINFO_NS, build_domain, build_domain_xml, parse_domain
from kernelswitch.vm.errors import HostError
from kernelswitch.vm.host import HostCaps
from kernelswitch.vm.spec import GiB, MiB, VMSpec

GOLDEN = Path(__file__).parent / "golden"
UUID = "5e1f0c3a-6a47-4d36-9c1e-0123456789ab"
MAC = "52:54:00:12:34:56"
SESSION = "qemu:///session"
SYSTEM = "qemu:///system"
CAPS = HostCaps(
    domain_type="kvm",
    emulator="/usr/bin/qemu-system-x86_64",
    machine="pc-q35-7.2",
    machines=("pc-i440fx-7.2", "pc-q35-7.2"),
    max_vcpus=288,
    efi_supported=True,
    loaders=("/usr/share/OVMF/OVMF_CODE_4M.ms.fd", "/usr/share/OVMF/OVMF_CODE_4M.fd"),
)

# (golden name, os short id, uri, accel, host caps)
CASES = [
    ("fedora37", "fedora37", SESSION, "tcg", None),
    ("debian11", "debian11", SESSION, "tcg", None),
    ("debian11-system-kvm", "debian11", SYSTEM, "kvm", CAPS),
    ("win10", "win10", SESSION, "tcg", None),
    ("win11", "win11", SESSION, "tcg", CAPS),
    ("winxp", "winxp", SESSION, "tcg", None),
    ("generic", "generic", SESSION, "tcg", None),
]


def _xml(os_id: str, uri: str, accel: str, caps: HostCaps | None) -> str:
    info = osinfo.get_os(os_id)
    spec = VMSpec(
        name=f"test-{os_id}",
        iso="/var/lib/libvirt/images/installer.iso",
        os=info.short_id,
        memory=2 * GiB if not info.minimum_memory else max(2 * GiB, info.minimum_memory),
        cpus=2,
        disk=20 * GiB,
    )
    return build_domain_xml(
        spec,
        None if info.is_generic else info,
        disk_path=f"/var/lib/kernelswitch/pool/test-{os_id}.qcow2",
        serial_log=f"/var/log/kernelswitch/test-{os_id}.serial.log",
        uri=uri,
        accel=accel,
        host_caps=caps,
        uuid=UUID,
        mac=MAC,
    )


@pytest.mark.parametrize(
    ("golden", "os_id", "uri", "accel", "caps"), CASES, ids=[c[0] for c in CASES]
)
def test_golden(
    golden: str, os_id: str, uri: str, accel: str, caps: HostCaps | None, regen_golden: bool
) -> None:
    actual = _xml(os_id, uri, accel, caps)
    path = GOLDEN / f"{golden}.xml"
    if regen_golden or not path.exists():
        assert regen_golden, f"{path} missing: run with KERNELSWITCH_REGEN_GOLDEN=1"
        path.write_text(actual)
    expected = path.read_text()
    diff = "".join(
        difflib.unified_diff(
            expected.splitlines(True), actual.splitlines(True), str(path), "generated"
        )
    )
    assert not diff, f"domain XML changed (regenerate with KERNELSWITCH_REGEN_GOLDEN=1):\n{diff}"


def _root(os_id: str, uri: str = SESSION, accel: str = "tcg", caps: HostCaps | None = None):
    return ET.fromstring(_xml(os_id, uri, accel, caps))


def test_common_devices() -> None:
    root = _root("fedora37")
    assert root.get("type") == "qemu"
    assert root.findtext("uuid") == UUID
    g = root.find("./devices/graphics")
    assert g is not None and g.get("type") == "vnc"
    assert [x.get("type") for x in g.findall("listen")] == ["none"]
    assert "port" not in g.attrib and "autoport" not in g.attrib
    assert root.find("./devices/audio[@id='1'][@type='none']") is not None
    assert root.find("./devices/video/model[@type='vga']") is not None
    assert root.find("./devices/input[@type='tablet'][@bus='usb']") is not None
    assert root.find("./devices/controller[@type='usb'][@model='qemu-xhci']") is not None
    # TCG: AC97 (Linux's HDA codec does not probe under TCG); its audio goes to VNC
    assert root.find("./devices/sound[@model='ac97']/audio[@id='1']") is not None
    kvm = _root("fedora37", accel="kvm")
    assert kvm.find("./devices/sound[@model='ich9']/audio[@id='1']") is not None
    assert _root("win10").find("./devices/sound[@model='ich9']") is not None  # no AC97 driver
    # ttyS0 is a pty (the serial terminal) that also keeps a log, and is the console
    serial = root.find("./devices/serial[@type='pty']/log")
    assert serial is not None and serial.get("file", "").endswith(".serial.log")
    assert root.find("./devices/console[@type='pty']/target[@type='serial'][@port='0']") is not None
    os_el = root.find(f"./metadata/{{{LIBOSINFO_NS}}}libosinfo/{{{LIBOSINFO_NS}}}os")
    assert os_el is not None and os_el.get("id") == "http://fedoraproject.org/fedora/37"
    assert root.find("./os/type").get("machine") == "q35"  # type: ignore[union-attr]
    assert root.find("./os").get("firmware") is None  # type: ignore[union-attr]


def test_boot_order_cdrom_then_disk() -> None:
    root = _root("fedora37")
    orders = {
        d.get("device"): int(d.find("boot").get("order"))  # type: ignore[union-attr]
        for d in root.findall("./devices/disk")
    }
    assert orders == {"cdrom": 1, "disk": 2}
    assert root.find("./os/boot") is None  # per-device order only


def test_virtio_only_where_supported() -> None:
    linux, win = _root("debian11"), _root("win10")
    assert linux.find("./devices/disk[@device='disk']/target").get("bus") == "virtio"  # type: ignore[union-attr]
    assert linux.find("./devices/interface/model").get("type") == "virtio"  # type: ignore[union-attr]
    assert win.find("./devices/disk[@device='disk']/target").get("bus") == "sata"  # type: ignore[union-attr]
    assert win.find("./devices/interface/model").get("type") in ("e1000e", "e1000")  # type: ignore[union-attr]
    assert win.find("./devices/memballoon").get("model") == "none"  # type: ignore[union-attr]
    assert win.find("./clock").get("offset") == "localtime"  # type: ignore[union-attr]


def test_uefi_only_when_required() -> None:
    assert _root("win11", caps=CAPS).find("./os").get("firmware") == "efi"  # type: ignore[union-attr]
    for os_id in ("fedora37", "debian11", "win10", "generic"):
        assert _root(os_id).find("./os").get("firmware") is None  # type: ignore[union-attr]
    no_efi = HostCaps(domain_type="qemu", machine="pc-q35-7.2", efi_supported=False)
    with pytest.raises(HostError, match="ovmf"):
        _xml("win11", SESSION, "tcg", no_efi)


def test_network_by_uri() -> None:
    session = _root("debian11", SESSION).find("./devices/interface")
    system = _root("debian11", SYSTEM).find("./devices/interface")
    assert session is not None and session.get("type") == "user"
    assert system is not None and system.get("type") == "network"
    assert system.find("source").get("network") == "default"  # type: ignore[union-attr]


def test_accel_and_machine() -> None:
    assert _root("debian11", accel="kvm").get("type") == "kvm"
    assert _root("debian11", accel="qemu").get("type") == "qemu"
    assert _root("winxp").find("./os/type").get("machine") == "pc"  # type: ignore[union-attr]
    pinned = _root("debian11", caps=CAPS).find("./os/type")
    assert pinned is not None and pinned.get("machine") == "pc-q35-7.2"


def test_special_characters_are_escaped() -> None:
    info = osinfo.get_os("fedora37")
    spec = VMSpec("n", "/isos/a&b <'\">.iso", "fedora37", GiB, 1, GiB)
    xml = build_domain_xml(
        spec, info, disk_path="/d.qcow2", serial_log="/s.log", uri=SESSION, accel="tcg"
    )
    parsed = parse_domain(xml)
    assert parsed["media"][0]["path"] == "/isos/a&b <'\">.iso"


def test_generated_uuid_and_mac_differ() -> None:
    info = osinfo.get_os("fedora37")
    spec = VMSpec("n", "/i.iso", "fedora37", GiB, 1, GiB)
    kw = {"disk_path": "/d.qcow2", "serial_log": "/s.log", "uri": SESSION, "accel": "tcg"}
    a, b = build_domain(spec, info, **kw), build_domain(spec, info, **kw)  # type: ignore[arg-type]
    assert a.uuid != b.uuid
    macs = [parse_domain(d.to_xml())["interfaces"][0]["mac"] for d in (a, b)]
    assert macs[0] != macs[1]
    assert all(m.startswith("52:54:00:") for m in macs)


def test_parse_round_trip() -> None:
    xml = _xml("fedora37", SESSION, "tcg", None)
    info = parse_domain(xml)
    assert info["name"] == "test-fedora37" and info["uuid"] == UUID
    assert info["os_id"] == "http://fedoraproject.org/fedora/37"
    assert info["memory"] == 2 * GiB and info["vcpus"] == 2
    assert info["id"] is None and info["firmware"] == "bios"
    assert [d["device"] for d in info["disks"]] == ["disk", "cdrom"]
    assert info["media"][0]["path"] == "/var/lib/libvirt/images/installer.iso"
    assert info["interfaces"][0]["mac"] == MAC
    assert info["serial_log"].endswith(".serial.log")
    assert info["memory"] // MiB == 2048


@pytest.mark.parametrize(
    ("golden", "os_id", "uri", "accel", "caps"), CASES, ids=[c[0] for c in CASES]
)
def test_libvirt_accepts(
    golden: str, os_id: str, uri: str, accel: str, caps: HostCaps | None
) -> None:
    """The real libvirtd validates each generated domain against its schema (define only)."""
    import libvirt

    # Defined on the session daemon under TCG (the accelerator is golden-tested above).
    xml = _xml(os_id, uri, "tcg", caps).replace(f"test-{os_id}", f"ks-xmltest-{golden}")
    conn = libvirt.open(SESSION)
    try:
        dom = conn.defineXMLFlags(xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
        try:
            back = parse_domain(dom.XMLDesc(0))
            assert back["os_id"] == osinfo.get_os(os_id).id
            assert back["graphics"] == [{"type": "vnc", "listen": ["none"]}]
        finally:
            dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
    finally:
        conn.close()
