"""The domain as an object tree; :meth:`Domain.set_defaults` makes every choice."""

from __future__ import annotations

import dataclasses
import random
import uuid as _uuid
import xml.etree.ElementTree as ET

from ..errors import HostError, VMError
from ..host import AccelReport, HostCaps
from ..osinfo import GENERIC, OSInfo
from ..spec import VMSpec
from .devices import (
    CDROM,
    RNG,
    Audio,
    Console,
    Controller,
    Device,
    Disk,
    Graphics,
    Input,
    Interface,
    MemBalloon,
    Serial,
    Sound,
    Video,
)

LIBOSINFO_NS = "http://libosinfo.org/xmlns/libvirt/domain/1.0"
DOMAIN_TYPES = ("qemu", "kvm")
MACHINES = ("q35", "pc")
#: PCIe root ports of a q35 domain, as virt-install makes: the devices take
#: what they need at definition, the rest stay free for hot-plugged disks and shares.
PCIE_ROOT_PORTS = 14
FIRMWARES = ("bios", "efi")
#: OSes released before this date and not known to run on q35 get i440fx.
Q35_CUTOFF = "2012-01-01"


def random_mac(rng: random.Random | None = None) -> str:
    """A MAC in QEMU's locally administered range 52:54:00."""
    r = rng or random.SystemRandom()
    return "52:54:00:" + ":".join(f"{r.randrange(256):02x}" for _ in range(3))


def is_remote(uri: str) -> bool:
    from ..hosts.uri import is_remote as remote

    return remote(uri)


def is_session_uri(uri: str) -> bool:
    return uri.split("?", 1)[0].rstrip("/").endswith("/session")


def domain_type_for(accel: str | AccelReport) -> str:
    if isinstance(accel, AccelReport):
        return accel.domain_type
    a = accel.strip().lower()
    if a == "kvm":
        return "kvm"
    if a in ("tcg", "qemu"):
        return "qemu"
    raise VMError(f"internal: unknown accelerator {accel!r}")


def _is_windows(os_info: OSInfo) -> bool:
    return os_info.family == "winnt" or (os_info.distro or "") == "win"


@dataclasses.dataclass
class Domain:
    """Everything in one ``<domain>``; render with :meth:`to_xml`."""

    name: str
    uuid: str
    memory: int  # bytes
    vcpus: int
    os_id: str
    domain_type: str = "qemu"
    machine: str = "q35"
    firmware: str = "bios"
    cpu_mode: str | None = None
    clock_offset: str = "utc"
    hyperv: bool = False
    devices: list[Device] = dataclasses.field(default_factory=list)

    def validate(self) -> None:
        if self.domain_type not in DOMAIN_TYPES:
            raise VMError(f"internal: domain type {self.domain_type!r}")
        if self.firmware not in FIRMWARES:
            raise VMError(f"internal: firmware {self.firmware!r}")
        for d in self.devices:
            d.validate()

    # ------------------------------------------------------------ defaults

    def set_defaults(
        self,
        os_info: OSInfo,
        *,
        disk_path: str,
        iso: str,
        serial_log: str,
        uri: str,
        mac: str,
        host_caps: HostCaps | None = None,
    ) -> None:
        """Choose machine, firmware and devices for *os_info* on this host."""
        generic = os_info.is_generic
        windows = _is_windows(os_info)

        # q35 is PCIe and what current installers are tested on; i440fx only for
        # old systems osinfo does not list on q35 (their installers may lack AHCI).
        old = bool(os_info.release_date) and (os_info.release_date or "") < Q35_CUTOFF
        use_q35 = generic or bool(os_info.supports_q35) or not old
        if host_caps is not None and not host_caps.has_machine("q35"):
            use_q35 = False
        self.machine = "q35" if use_q35 else "pc"
        if host_caps is not None and use_q35 and host_caps.machine:
            # Pin the versioned type so a QEMU upgrade does not change the guest ABI.
            self.machine = host_caps.machine

        # UEFI only when the OS cannot boot otherwise (win11): BIOS boots every
        # other installer, needs no NVRAM file and makes delete/clone simpler.
        if os_info.requires_uefi:
            if host_caps is not None and not host_caps.efi_supported:
                msg = (
                    f"{os_info.name} needs UEFI firmware, which this host lacks. "
                    "Install the 'ovmf' package, or choose another OS."
                )
                raise HostError(msg)
            self.firmware = "efi"

        # TCG: 'maximum' exposes every feature TCG emulates (x86-64-v2 distros need
        # more than the default qemu64). KVM: pass the host CPU through.
        self.cpu_mode = "maximum" if self.domain_type == "qemu" else "host-passthrough"

        # Windows keeps its RTC in local time and runs better with Hyper-V hints.
        if windows:
            self.clock_offset = "localtime"
            self.hyperv = True

        virtio_blk = os_info.supports_virtio_blk and not generic
        virtio_net = os_info.supports_virtio_net and not generic
        sata_bus = "sata" if use_q35 else "ide"
        cd_target = "sda" if use_q35 else "hdc"

        # Boot the installer first; once installed, the guest still boots from
        # disk when the cdrom is ejected (boot order 2).
        self.devices = [
            Disk(
                path=disk_path,
                target="vda" if virtio_blk else ("sdb" if use_q35 else "hda"),
                bus="virtio" if virtio_blk else sata_bus,
                format="qcow2",
                boot_order=2,
            ),
            CDROM(path=iso, target=cd_target, bus=sata_bus, boot_order=1),
            Interface(
                mac=mac,
                # Session daemons cannot create bridges/taps: user-mode (slirp) NAT.
                type="user" if is_session_uri(uri) else "network",
                network="default",
                # e1000 is the NIC every OS without virtio drivers knows.
                model="virtio"
                if virtio_net
                else ("e1000e" if os_info.supports("e1000e") and use_q35 else "e1000"),
            ),
        ]
        # USB tablet = absolute pointer, so the console widget's mouse maps 1:1.
        # qemu-xhci needs no guest quirks; nec-xhci/ehci for OSes that lack it.
        if generic or os_info.supports("qemu-xhci"):
            usb = "qemu-xhci"
        elif os_info.supports("nec-xhci"):
            usb = "nec-xhci"
        else:
            usb = "ich9-ehci1" if use_q35 else "piix3-uhci"
        self.devices.append(
            Controller(type="usb", model=usb, index=0, ports=15 if usb.endswith("xhci") else None)
        )
        self.devices.append(Input(type="tablet", bus="usb"))
        # VNC with no TCP port (DESIGN 2) and an audio backend so QEMU's audio
        # pseudo-encoding works; 'none' plays nothing on the host itself.
        # A remote host's VNC listens on a unix socket there, reached over SSH.
        listen = "socket" if is_remote(uri) else "none"
        self.devices.append(Graphics(listen=listen, audio_id=1))
        self.devices.append(Audio(id=1, type="none"))
        # Plain VGA: every installer and the test OS (no virtio-gpu) drive it.
        self.devices.append(Video(model="vga"))
        # HDA (ich9 on q35) is what snd-hda-intel and Windows' inbox driver use.
        # Under TCG, Linux's HDA codec probe times out (no sound card at all),
        # while AC97 (snd_intel8x0) plays and reaches the console's audio: so a
        # TCG guest other than Windows (whose current releases lack AC97) gets AC97.
        if self.domain_type == "qemu" and not windows:
            sound = "ac97"
        elif generic or os_info.supports("ich9-hda"):
            sound = "ich9" if use_q35 else "ich6"
        elif os_info.supports("ich6"):
            sound = "ich6"
        else:
            sound = "ac97"
        self.devices.append(Sound(model=sound, audio_id=1))
        # ttyS0 as a pty (the serial terminal streams it) with a log file the
        # caller reads; the console is that port. A serial port rather than a
        # virtio console: installers and `console=ttyS0` reach it with no driver.
        self.devices.append(Serial(type="pty", log=serial_log, port=0))
        self.devices.append(Console(target="serial", port=0))
        # Balloon/RNG only where the OS has drivers; otherwise no dead PCI device.
        virtio_misc = not generic and os_info.supports("virtio-balloon")
        self.devices.append(MemBalloon(model="virtio" if virtio_misc else "none"))
        if not generic and (os_info.supports("virtio-rng") or os_info.supports("virtio1.0-rng")):
            self.devices.append(RNG())
        # q35 plugs PCIe devices into root ports and libvirt makes only as many
        # as the devices at definition need, so a disk or shared folder added
        # to a running VM has nowhere to go ("No more available PCI slots").
        # As virt-install does: root ports to PCIE_ROOT_PORTS in all, the ones
        # the devices do not take left free for hot-plug.
        if use_q35:
            self.devices.extend(
                Controller(type="pci", model="pcie-root-port", index=i)
                for i in range(1, PCIE_ROOT_PORTS + 1)  # 0 is the pcie-root libvirt adds
            )

    # ------------------------------------------------------------ rendering

    def to_element(self) -> ET.Element:
        self.validate()
        root = ET.Element("domain", {"type": self.domain_type})
        ET.SubElement(root, "name").text = self.name
        ET.SubElement(root, "uuid").text = self.uuid
        meta = ET.SubElement(root, "metadata")
        # Written with the prefix literally so the namespace sits on this element,
        # exactly as virt-install/virt-manager record it.
        lo = ET.SubElement(meta, "libosinfo:libosinfo", {"xmlns:libosinfo": LIBOSINFO_NS})
        ET.SubElement(lo, "libosinfo:os", {"id": self.os_id})
        kib = str(self.memory // 1024)
        ET.SubElement(root, "memory", {"unit": "KiB"}).text = kib
        ET.SubElement(root, "currentMemory", {"unit": "KiB"}).text = kib
        ET.SubElement(root, "vcpu", {"placement": "static"}).text = str(self.vcpus)
        os_el = ET.SubElement(root, "os")
        if self.firmware == "efi":
            os_el.set("firmware", "efi")
        ET.SubElement(os_el, "type", {"arch": "x86_64", "machine": self.machine}).text = "hvm"
        feats = ET.SubElement(root, "features")
        ET.SubElement(feats, "acpi")
        ET.SubElement(feats, "apic")
        if self.hyperv:
            hv = ET.SubElement(feats, "hyperv", {"mode": "custom"})
            ET.SubElement(hv, "relaxed", {"state": "on"})
            ET.SubElement(hv, "vapic", {"state": "on"})
            ET.SubElement(hv, "spinlocks", {"state": "on", "retries": "8191"})
        if self.firmware == "efi":
            # OVMF builds with Secure Boot need SMM.
            ET.SubElement(feats, "smm", {"state": "on"})
        if self.cpu_mode:
            ET.SubElement(root, "cpu", {"mode": self.cpu_mode, "check": "none"})
        clock = ET.SubElement(root, "clock", {"offset": self.clock_offset})
        ET.SubElement(clock, "timer", {"name": "rtc", "tickpolicy": "catchup"})
        ET.SubElement(clock, "timer", {"name": "pit", "tickpolicy": "delay"})
        ET.SubElement(clock, "timer", {"name": "hpet", "present": "no"})
        if self.hyperv:
            ET.SubElement(clock, "timer", {"name": "hypervclock", "present": "yes"})
        ET.SubElement(root, "on_poweroff").text = "destroy"
        ET.SubElement(root, "on_reboot").text = "restart"
        ET.SubElement(root, "on_crash").text = "destroy"
        pm = ET.SubElement(root, "pm")
        ET.SubElement(pm, "suspend-to-mem", {"enabled": "no"})
        ET.SubElement(pm, "suspend-to-disk", {"enabled": "no"})
        devs = ET.SubElement(root, "devices")
        for d in self.devices:
            devs.append(d.to_element())
        return root

    def to_xml(self) -> str:
        root = self.to_element()
        ET.indent(root, space="  ")
        return ET.tostring(root, encoding="unicode") + "\n"


def build_domain(
    spec: VMSpec,
    os_info: OSInfo | None,
    *,
    disk_path: str,
    serial_log: str,
    uri: str,
    accel: str | AccelReport,
    host_caps: HostCaps | None = None,
    uuid: str | None = None,
    mac: str | None = None,
) -> Domain:
    """The :class:`Domain` object (before rendering), for callers that tweak it."""
    info = os_info or GENERIC
    dom = Domain(
        name=spec.name,
        uuid=str(_uuid.UUID(uuid)) if uuid else str(_uuid.uuid4()),
        memory=spec.memory,
        vcpus=spec.cpus,
        os_id=info.id,
        domain_type=domain_type_for(accel),
    )
    dom.set_defaults(
        info,
        disk_path=disk_path,
        iso=spec.iso,
        serial_log=serial_log,
        uri=uri,
        mac=mac or random_mac(),
        host_caps=host_caps,
    )
    return dom


def build_domain_xml(
    spec: VMSpec,
    os_info: OSInfo | None,
    *,
    disk_path: str,
    serial_log: str,
    uri: str,
    accel: str | AccelReport,
    host_caps: HostCaps | None = None,
    uuid: str | None = None,
    mac: str | None = None,
) -> str:
    """Domain XML for *spec*. Deterministic when *uuid* and *mac* are given.

    *accel* is ``'tcg'``/``'qemu'``/``'kvm'`` or :func:`host.detect_accel`'s
    report; *host_caps* (from :func:`host.domain_caps`) pins the versioned
    machine type and checks UEFI support; without it ``q35`` is written.
    ``os_info=None`` means the generic OS (conservative devices).
    """
    return build_domain(
        spec,
        os_info,
        disk_path=disk_path,
        serial_log=serial_log,
        uri=uri,
        accel=accel,
        host_caps=host_caps,
        uuid=uuid,
        mac=mac,
    ).to_xml()
