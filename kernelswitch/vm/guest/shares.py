"""Host folders shared with a guest over virtiofs.

Public API (stable), called with a :class:`~..manager.VMManager`:

- :func:`shares` ``(vms, name) -> list[dict]`` — ``{"tag", "dir", "readonly",
  "mount"}`` each (``mount``: the command that mounts it in a Linux guest).
- :func:`add_share` ``(vms, name, host_dir, tag=None, readonly=False)`` and
  :func:`remove_share` ``(vms, name, tag)`` — answer ``{"name", "shares",
  "share", "applies": "now" | "next boot", "mount"}``.
- :func:`check_share` ``(vms, host_dir, tag=None) -> (dir, tag)`` — the checks
  alone (create runs them before it makes anything).
- :func:`parse_share_arg` ``("DIR[:TAG]") -> (dir, tag | None)``.

Why virtiofs, and the memory backing: QEMU 7.2 ships ``/usr/lib/qemu/virtiofsd``
(libvirt finds it through ``/usr/share/qemu/vhost-user/50-qemu-virtiofsd.json``)
and a Linux guest mounts it with ``mount -t virtiofs TAG DIR``; the daemon
needs the guest's RAM to be shared memory, ``<memoryBacking><source
type='memfd'/><access mode='shared'/>``. That is added to the definition with
the first share, so on a running VM made without it the share applies at the
next boot; the answer says which. A share is hot-plugged when the running VM
already has it. The folder is resolved and checked first: it must exist, be
a folder the hypervisor's user can reach, and be neither the disk pool nor
inside or above it (a guest must not see other VMs' disks). A read-only share
is read-only in the guest (writes fail with EROFS): libvirt 9.0 refuses
``<readonly/>`` on virtiofs, so its virtiofsd runs over a read-only bind mount
in a mount namespace of its own (:mod:`.readonly`; root and a local host only,
else a 400 that says why, with nothing changed).
"""

from __future__ import annotations

import contextlib
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ..connection import libvirt_module
from ..errors import InvalidVMSpec, VMError
from .readonly import check_readonly, install_wrapper, is_readonly

__all__ = ["add_share", "check_share", "parse_share_arg", "remove_share", "shares"]

#: virtiofs tags are at most 36 bytes (the virtio-fs config space).
MAX_TAG = 36
TAG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def parse_share_arg(text: str) -> tuple[str, str | None]:
    """``/srv/data:data`` -> (dir, tag); ``/srv/data`` -> (dir, None)."""
    d, sep, tag = text.rpartition(":")
    if sep and d and TAG_RE.fullmatch(tag or ""):
        return d, tag
    return text, None


def mount_command(tag: str) -> str:
    return f"mkdir -p /mnt/{tag} && mount -t virtiofs {tag} /mnt/{tag}"


def _fs_list(root: ET.Element) -> list[dict[str, Any]]:
    out = []
    for fs in root.findall("./devices/filesystem"):
        driver = fs.find("driver")
        if driver is None or driver.get("type") != "virtiofs":
            continue
        src, tgt = fs.find("source"), fs.find("target")
        tag = tgt.get("dir", "") if tgt is not None else ""
        out.append({
            "tag": tag,
            "dir": src.get("dir") if src is not None else None,
            "readonly": is_readonly(fs),
            "mount": mount_command(tag),
        })  # fmt: skip
    return out


def shares_of(xml: str) -> list[dict[str, Any]]:
    return _fs_list(ET.fromstring(xml))


def shares(vms: Any, name: str) -> list[dict[str, Any]]:
    return vms._on_domain(name, lambda dom: shares_of(dom.XMLDesc(0)))


def check_share(
    vms: Any, host_dir: str, tag: str | None = None, readonly: bool = False
) -> tuple[str, str]:
    """The resolved folder and the tag, if the folder may be shared (read-only too, if asked)."""
    from ..host import hypervisor_user, may_access, unsearchable_dirs

    if not isinstance(host_dir, str) or not host_dir.strip():
        raise InvalidVMSpec("No folder given: name the host folder to share, e.g. ~/data.")
    if "\x00" in host_dir:
        raise InvalidVMSpec(
            f"The folder {host_dir!r} has a NUL character, which no path can hold: "
            "check what was pasted.",
            details={"field": "dir"},
        )
    path = Path(os.path.realpath(os.path.expanduser(host_dir)))
    shown = {"field": "dir", "dir": str(path)}
    if not path.exists():
        raise InvalidVMSpec(
            f"The folder {str(path)!r} does not exist. Check the path (it is on the server "
            "host).",
            details=shown,
        )
    if not path.is_dir():
        raise InvalidVMSpec(
            f"{str(path)!r} is not a folder; a share is a whole folder (give its parent).",
            details=shown,
        )
    pool = Path(os.path.realpath(vms.storage.pool_path()))
    if path == pool or pool in path.parents or path in pool.parents:
        raise InvalidVMSpec(
            f"{str(path)!r} is (or holds, or is inside) the disk pool {str(pool)!r}: a guest "
            "would see the disks of every VM. Share a folder outside it.",
            details=shown,
        )
    user = hypervisor_user(vms.uri)
    blocked = [f"{d} (mode {m:04o})" for d, m in unsearchable_dirs(path, user)]
    if blocked or not may_access(path, user, 5):
        grants = [f"setfacl -m u:{user.name}:x {d.split(' (')[0]}" for d in blocked]
        grants.append(f"setfacl -m u:{user.name}:rx {path}")
        raise InvalidVMSpec(
            f"The hypervisor runs as user {user.name!r} and cannot read the folder "
            f"{str(path)!r}" + (f" (it cannot enter {', '.join(blocked)})" if blocked else "")
            + f". Share a folder it can read, or grant access yourself: {' && '.join(grants)}. "
            "kernelswitch never changes permissions for you.",
            details={**shown, "user": user.name},
        )
    if tag is None:
        tag = re.sub(r"[^A-Za-z0-9._-]", "_", path.name or "root").lstrip("._-")[:MAX_TAG]
        tag = tag or "share"
    if not TAG_RE.fullmatch(tag) or len(tag.encode()) > MAX_TAG:
        raise InvalidVMSpec(
            f"The tag {tag!r} must be 1 to {MAX_TAG} letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (the guest mounts it by this name).",
            details={"field": "tag", "tag": tag},
        )
    if readonly:
        check_readonly(vms.uri, str(path))
    return str(path), tag


def _has_shared_memory(root: ET.Element) -> bool:
    mb = root.find("memoryBacking")
    return (
        mb is not None
        and mb.find("source[@type='memfd']") is not None
        and mb.find("access[@mode='shared']") is not None
    )


def _fs_element(path: str, tag: str, readonly: bool) -> ET.Element:
    fs = ET.Element("filesystem", {"type": "mount", "accessmode": "passthrough"})
    ET.SubElement(fs, "driver", {"type": "virtiofs"})
    if readonly:  # libvirt 9.0 refuses <readonly/> on virtiofs: our daemon enforces it
        ET.SubElement(fs, "binary", {"path": install_wrapper()})
    ET.SubElement(fs, "source", {"dir": path})
    ET.SubElement(fs, "target", {"dir": tag})
    return fs


def add_share(
    vms: Any, name: str, host_dir: str, tag: str | None = None, readonly: bool = False
) -> dict[str, Any]:
    path, tag = check_share(vms, host_dir, tag, readonly)
    libvirt = libvirt_module()

    def add(conn: Any) -> dict[str, Any]:
        dom = conn.lookupByName(name)
        config = ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        taken = {s["tag"]: s["dir"] for s in _fs_list(config)}
        if dom.isActive():
            taken.update({s["tag"]: s["dir"] for s in shares_of(dom.XMLDesc(0))})
        if tag in taken:
            raise InvalidVMSpec(
                f"VM {name!r} already shares {taken[tag]!r} as {tag!r}. Choose another tag "
                f"with --tag, or remove that share first (`vm unshare {name} {tag}`).",
                details={"field": "tag", "tag": tag},
            )
        if not _has_shared_memory(config):
            mb = config.find("memoryBacking")
            if mb is None:
                mb = ET.SubElement(config, "memoryBacking")  # libvirt orders it
            for child in list(mb):
                if child.tag in ("source", "access"):
                    mb.remove(child)
            ET.SubElement(mb, "source", {"type": "memfd"})
            ET.SubElement(mb, "access", {"mode": "shared"})
        devices = config.find("devices")
        assert devices is not None
        fs = _fs_element(path, tag, readonly)
        devices.append(fs)
        conn.defineXML(ET.tostring(config, encoding="unicode"))
        applies = "next boot"
        if dom.isActive() and _has_shared_memory(ET.fromstring(dom.XMLDesc(0))):
            with contextlib.suppress(libvirt.libvirtError):
                dom.attachDeviceFlags(ET.tostring(fs, encoding="unicode"),
                                      libvirt.VIR_DOMAIN_AFFECT_LIVE)  # fmt: skip
                applies = "now"
        if not dom.isActive():
            applies = "next start"
        share = {"tag": tag, "dir": path, "readonly": readonly, "mount": mount_command(tag)}
        return {"name": name, "share": share, "applies": applies, "mount": share["mount"],
                "shares": _fs_list(config)}  # fmt: skip

    return vms._call(add, name)


def remove_share(vms: Any, name: str, tag: str) -> dict[str, Any]:
    libvirt = libvirt_module()

    def remove(conn: Any) -> dict[str, Any]:
        dom = conn.lookupByName(name)
        config = ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        devices = config.find("devices")
        assert devices is not None
        found = [fs for fs in devices.findall("filesystem")
                 if (t := fs.find("target")) is not None and t.get("dir") == tag]  # fmt: skip
        live_fs = None
        if dom.isActive():
            live = ET.fromstring(dom.XMLDesc(0))
            live_fs = next((fs for fs in live.findall("./devices/filesystem")
                            if (t := fs.find("target")) is not None and t.get("dir") == tag),
                           None)  # fmt: skip
        if not found and live_fs is None:
            have = ", ".join(s["tag"] for s in _fs_list(config)) or "none"
            raise InvalidVMSpec(
                f"VM {name!r} has no share tagged {tag!r}; its shares: {have}.",
                details={"field": "tag", "tag": tag},
            )
        for fs in found:
            devices.remove(fs)
        if found:
            conn.defineXML(ET.tostring(config, encoding="unicode"))
        applies = "now" if not dom.isActive() else "next boot"
        if live_fs is not None:
            try:
                dom.detachDeviceFlags(ET.tostring(live_fs, encoding="unicode"),
                                      libvirt.VIR_DOMAIN_AFFECT_LIVE)  # fmt: skip
                applies = "now"
            except libvirt.libvirtError as e:
                if not found:
                    raise VMError(f"Cannot remove the share {tag!r} from running VM "
                                  f"{name!r}: {e.get_error_message()}") from e  # fmt: skip
        return {"name": name, "removed": tag, "applies": applies, "shares": _fs_list(config)}

    return vms._call(remove, name)
