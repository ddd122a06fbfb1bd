"""One small class per domain device. Each knows its allowed values and how to
become an ElementTree element; choosing values is :meth:`Domain.set_defaults`'s job.
"""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from typing import ClassVar

from ..errors import VMError


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, {k.rstrip("_"): v for k, v in attrs.items()})
    if text is not None:
        el.text = text
    return el


def _check(kind: str, field: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        # A programmer error (a bad default), not user input: say so plainly.
        raise VMError(f"internal: {kind}.{field}={value!r} not in {allowed}")


class Device:
    """Base: ``validate()`` checks constants, ``to_element()`` renders."""

    KIND: ClassVar[str] = "device"

    def validate(self) -> None:  # pragma: no cover - trivial default
        pass

    def to_element(self) -> ET.Element:
        raise NotImplementedError


def no_relabel(source: ET.Element) -> ET.Element:
    """Tell libvirt to leave this source file's owner and label alone.

    With qemu.conf's ``dynamic_ownership`` (Debian's default) libvirt chowns
    every disk source to the QEMU user at start: an ISO that is the user's
    own file (or a symlink to someone else's) would end up owned by
    ``libvirt-qemu``. Installer media are only read, so QEMU opens them with
    the permissions they already have; create/insert/start check those first.
    """
    _sub(source, "seclabel", model="dac", relabel="no")
    return source


@dataclasses.dataclass
class Disk(Device):
    """A qcow2 (or raw) file disk; also the base of :class:`CDROM`."""

    KIND: ClassVar[str] = "disk"
    BUSES: ClassVar[tuple[str, ...]] = ("virtio", "sata", "ide", "scsi")
    FORMATS: ClassVar[tuple[str, ...]] = ("qcow2", "raw")

    path: str
    target: str = "vda"
    bus: str = "virtio"
    format: str = "qcow2"
    boot_order: int | None = None
    readonly: bool = False
    device: ClassVar[str] = "disk"

    def validate(self) -> None:
        _check(self.KIND, "bus", self.bus, self.BUSES)
        _check(self.KIND, "format", self.format, self.FORMATS)

    def to_element(self) -> ET.Element:
        self.validate()
        el = ET.Element("disk", {"type": "file", "device": self.device})
        driver = _sub(el, "driver", name="qemu", type=self.format)
        if self.device == "disk":
            # Guests that TRIM give space back to the sparse qcow2 file.
            driver.set("discard", "unmap")
        src = _sub(el, "source", file=self.path)
        if self.device == "cdrom":
            no_relabel(src)
        _sub(el, "target", dev=self.target, bus=self.bus)
        if self.readonly:
            _sub(el, "readonly")
        if self.boot_order is not None:
            _sub(el, "boot", order=str(self.boot_order))
        return el


@dataclasses.dataclass
class CDROM(Disk):
    KIND: ClassVar[str] = "cdrom"
    BUSES: ClassVar[tuple[str, ...]] = ("sata", "ide", "scsi")
    device: ClassVar[str] = "cdrom"

    target: str = "sda"
    bus: str = "sata"
    format: str = "raw"
    readonly: bool = True


@dataclasses.dataclass
class Interface(Device):
    KIND: ClassVar[str] = "interface"
    TYPES: ClassVar[tuple[str, ...]] = ("user", "network")
    MODELS: ClassVar[tuple[str, ...]] = ("virtio", "e1000e", "e1000", "rtl8139")

    mac: str
    type: str = "user"
    model: str = "virtio"
    network: str = "default"

    def validate(self) -> None:
        _check(self.KIND, "type", self.type, self.TYPES)
        _check(self.KIND, "model", self.model, self.MODELS)

    def to_element(self) -> ET.Element:
        self.validate()
        el = ET.Element("interface", {"type": self.type})
        if self.type == "network":
            _sub(el, "source", network=self.network)
        _sub(el, "mac", address=self.mac)
        _sub(el, "model", type=self.model)
        return el


@dataclasses.dataclass
class Graphics(Device):
    """VNC with no TCP port: locally the server reaches it via openGraphicsFD
    (``none``); on a remote host through SSH to a unix socket libvirt makes
    for it there (``socket``), since descriptors cannot cross the network."""

    KIND: ClassVar[str] = "graphics"
    TYPES: ClassVar[tuple[str, ...]] = ("vnc",)
    LISTENS: ClassVar[tuple[str, ...]] = ("none", "socket")

    type: str = "vnc"
    listen: str = "none"
    audio_id: int | None = 1

    def validate(self) -> None:
        _check(self.KIND, "type", self.type, self.TYPES)
        _check(self.KIND, "listen", self.listen, self.LISTENS)

    def to_element(self) -> ET.Element:
        self.validate()
        el = ET.Element("graphics", {"type": self.type})
        _sub(el, "listen", type=self.listen)
        if self.audio_id is not None:
            _sub(el, "audio", id=str(self.audio_id))
        return el


@dataclasses.dataclass
class Audio(Device):
    KIND: ClassVar[str] = "audio"
    TYPES: ClassVar[tuple[str, ...]] = ("none",)

    id: int = 1
    type: str = "none"

    def validate(self) -> None:
        _check(self.KIND, "type", self.type, self.TYPES)

    def to_element(self) -> ET.Element:
        self.validate()
        return ET.Element("audio", {"id": str(self.id), "type": self.type})


@dataclasses.dataclass
class Video(Device):
    KIND: ClassVar[str] = "video"
    MODELS: ClassVar[tuple[str, ...]] = ("vga", "qxl", "virtio", "bochs")

    model: str = "vga"

    def validate(self) -> None:
        _check(self.KIND, "model", self.model, self.MODELS)

    def to_element(self) -> ET.Element:
        self.validate()
        el = ET.Element("video")
        _sub(el, "model", type=self.model)
        return el


@dataclasses.dataclass
class Sound(Device):
    KIND: ClassVar[str] = "sound"
    MODELS: ClassVar[tuple[str, ...]] = ("ich9", "ich6", "ac97")

    model: str = "ich9"
    audio_id: int | None = 1

    def validate(self) -> None:
        _check(self.KIND, "model", self.model, self.MODELS)

    def to_element(self) -> ET.Element:
        self.validate()
        el = ET.Element("sound", {"model": self.model})
        if self.audio_id is not None:
            _sub(el, "audio", id=str(self.audio_id))
        return el


@dataclasses.dataclass
class Input(Device):
    KIND: ClassVar[str] = "input"
    TYPES: ClassVar[tuple[str, ...]] = ("tablet", "keyboard", "mouse")
    BUSES: ClassVar[tuple[str, ...]] = ("usb", "ps2", "virtio")

    type: str = "tablet"
    bus: str = "usb"

    def validate(self) -> None:
        _check(self.KIND, "type", self.type, self.TYPES)
        _check(self.KIND, "bus", self.bus, self.BUSES)

    def to_element(self) -> ET.Element:
        self.validate()
        return ET.Element("input", {"type": self.type, "bus": self.bus})


@dataclasses.dataclass
class Controller(Device):
    KIND: ClassVar[str] = "controller"
    TYPES: ClassVar[tuple[str, ...]] = ("usb", "sata", "scsi", "virtio-serial", "pci")
    MODELS: ClassVar[tuple[str, ...]] = (
        "qemu-xhci", "nec-xhci", "ich9-ehci1", "piix3-uhci", "virtio-scsi", "pcie-root-port", "",
    )  # fmt: skip

    type: str = "usb"
    model: str = "qemu-xhci"
    index: int = 0
    ports: int | None = None

    def validate(self) -> None:
        _check(self.KIND, "type", self.type, self.TYPES)
        _check(self.KIND, "model", self.model, self.MODELS)

    def to_element(self) -> ET.Element:
        self.validate()
        attrs = {"type": self.type, "index": str(self.index)}
        if self.model:
            attrs["model"] = self.model
        if self.ports is not None:
            attrs["ports"] = str(self.ports)
        return ET.Element("controller", attrs)


@dataclasses.dataclass
class Serial(Device):
    """A serial port: a pty (the interactive serial terminal) logged to *log*, or a file.

    A pty with ``<log>`` keeps both: libvirt streams it to the serial terminal
    (``openConsole``) and virtlogd writes everything the guest printed to the log.
    No ``append='on'``: with it, after a shutdown and start (a new QEMU) nothing
    reached the log while no client held the pty (seen with libvirt 9.0, QEMU
    7.2); without it each start begins a new log, as a file serial port did.
    """

    KIND: ClassVar[str] = "serial"
    TYPES: ClassVar[tuple[str, ...]] = ("file", "pty")

    type: str = "file"
    path: str | None = None
    port: int = 0
    log: str | None = None

    def validate(self) -> None:
        _check(self.KIND, "type", self.type, self.TYPES)
        if self.type == "file" and not self.path:
            raise VMError("internal: a file serial port needs a path")

    def to_element(self) -> ET.Element:
        self.validate()
        el = ET.Element("serial", {"type": self.type})
        if self.type == "file":
            assert self.path is not None
            _sub(el, "source", path=self.path)
        if self.log:
            _sub(el, "log", file=self.log)
        _sub(el, "target", port=str(self.port))
        return el


@dataclasses.dataclass
class Console(Device):
    """An interactive pty console (``virsh console``), separate from the log port."""

    KIND: ClassVar[str] = "console"
    TARGETS: ClassVar[tuple[str, ...]] = ("virtio", "serial")

    target: str = "virtio"
    port: int = 0

    def validate(self) -> None:
        _check(self.KIND, "target", self.target, self.TARGETS)

    def to_element(self) -> ET.Element:
        self.validate()
        el = ET.Element("console", {"type": "pty"})
        _sub(el, "target", type=self.target, port=str(self.port))
        return el


@dataclasses.dataclass
class MemBalloon(Device):
    KIND: ClassVar[str] = "memballoon"
    MODELS: ClassVar[tuple[str, ...]] = ("virtio", "none")

    model: str = "virtio"

    def validate(self) -> None:
        _check(self.KIND, "model", self.model, self.MODELS)

    def to_element(self) -> ET.Element:
        self.validate()
        return ET.Element("memballoon", {"model": self.model})


@dataclasses.dataclass
class RNG(Device):
    KIND: ClassVar[str] = "rng"

    source: str = "/dev/urandom"

    def to_element(self) -> ET.Element:
        el = ET.Element("rng", {"model": "virtio"})
        _sub(el, "backend", self.source, model="random")
        return el
