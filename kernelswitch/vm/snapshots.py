"""Internal qcow2 snapshots of a VM: list, create, revert, delete.

Public API (stable), reached as ``VMManager.snapshots / snapshot_create /
snapshot_revert / snapshot_delete``:

- :func:`list_snapshots` ``(manager, name) -> list[dict]`` — oldest first:
  ``name, created`` (ISO time), ``created_ts``, ``state`` (the VM's state when
  taken: running, shutoff...), ``description``, ``parent``, ``current``, ``kind``.
- :func:`create` ``(manager, name, snapshot, description=None)``,
  :func:`revert` ``(manager, name, snapshot)``, :func:`delete` ``(manager, name, snapshot)``.

Why internal only: an internal snapshot lives inside the qcow2 file, so
revert and delete are one libvirt call each and nothing new appears on disk.
External snapshots (overlay files) need block-commit to undo and libvirt
cannot revert them on every version; mixing the two makes a chain nobody can
follow. So we refuse where internal snapshots cannot work — a raw disk, UEFI
firmware with a raw pflash NVRAM (QEMU cannot store its state) — and say why,
and we never create, revert or delete an external one.
"""

from __future__ import annotations

import datetime as _dt
import re
import xml.etree.ElementTree as ET
from typing import Any

from ._xml import inactive_xml, to_string
from .connection import libvirt_module
from .errors import InvalidVMSpec, SnapshotNotFound, VMError

__all__ = ["create", "delete", "list_snapshots", "revert"]

SNAPSHOT_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _describe(snap: Any) -> dict[str, Any]:
    root = ET.fromstring(snap.getXMLDesc(0))
    ts = int(root.findtext("creationTime") or 0)
    external = root.find("./memory[@snapshot='external']") is not None or any(
        d.get("snapshot") == "external" for d in root.findall("./disks/disk")
    )
    return {
        "name": root.findtext("name"),
        "created": _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).isoformat(),
        "created_ts": ts,
        "state": root.findtext("state"),
        "description": root.findtext("description"),
        "parent": root.findtext("./parent/name"),
        "current": bool(snap.isCurrent(0)),
        "kind": "external" if external else "internal",
    }


def _list(dom: Any) -> list[dict[str, Any]]:
    return sorted(
        (_describe(s) for s in dom.listAllSnapshots(0)),
        key=lambda s: (s["created_ts"], s["name"]),
    )


def list_snapshots(manager: Any, name: str) -> list[dict[str, Any]]:
    return manager._on_domain(name, _list)


def _lookup(dom: Any, vm: str, snapshot: str) -> Any:
    libvirt = libvirt_module()
    try:
        return dom.snapshotLookupByName(snapshot, 0)
    except libvirt.libvirtError as e:
        if e.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT:
            raise
    have = [s["name"] for s in _list(dom)]
    listing = ", ".join(have) if have else "none yet"
    msg = (
        f"VM {vm!r} has no snapshot {snapshot!r} (it has: {listing}). "
        f"List them with `vm snapshot list {vm}`."
    )
    raise SnapshotNotFound(msg, details={"name": vm, "snapshot": snapshot, "snapshots": have})


def _refuse_external(info: dict[str, Any], vm: str, verb: str) -> None:
    if info["kind"] == "external":
        msg = (
            f"Snapshot {info['name']!r} of VM {vm!r} is external (overlay files); kernelswitch "
            f"only {verb}s internal snapshots. Use `virsh` for external ones."
        )
        raise VMError(msg, details={"name": vm, "snapshot": info["name"]})


def _check_can_snapshot(dom: Any, vm: str) -> None:
    """Refuse (before anything happens) where internal snapshots cannot work."""
    root = inactive_xml(dom)
    os_el = root.find("os")
    loader = root.find("./os/loader")
    nvram = root.find("./os/nvram")
    efi = os_el is not None and (
        os_el.get("firmware") == "efi" or (loader is not None and loader.get("type") == "pflash")
    )
    if efi and (nvram is None or nvram.get("format") != "qcow2"):
        msg = (
            f"VM {vm!r} boots with UEFI firmware whose NVRAM is a raw pflash file: QEMU "
            "cannot keep internal snapshots of it. Shut the VM down and copy its disk "
            "instead (`vm clone`), which is the safe alternative."
        )
        raise VMError(msg, details={"name": vm, "reason": "uefi_pflash"})
    for disk in root.findall("./devices/disk"):
        if disk.get("device", "disk") != "disk" or disk.find("readonly") is not None:
            continue  # read-only media are not snapshotted
        driver = disk.find("driver")
        fmt = driver.get("type") if driver is not None else None
        if fmt != "qcow2":
            target = disk.find("target")
            dev = target.get("dev") if target is not None else "?"
            msg = (
                f"VM {vm!r} has a {fmt or 'raw'} disk ({dev}): internal snapshots need every "
                "writable disk in qcow2 format. Convert it with `qemu-img convert -O qcow2` "
                "while the VM is off, or use `vm clone` to keep a copy."
            )
            raise VMError(msg, details={"name": vm, "disk": dev, "reason": "not_qcow2"})


def create(
    manager: Any, name: str, snapshot: str, description: str | None = None
) -> dict[str, Any]:
    """Take an internal snapshot (disks, and memory when the VM runs)."""
    if not isinstance(snapshot, str) or not SNAPSHOT_NAME_RE.fullmatch(snapshot):
        msg = (
            f"Snapshot name {snapshot!r} is not valid: use 1-64 letters, digits, '.', '_' "
            "or '-', starting with a letter or digit (e.g. before-update)."
        )
        raise InvalidVMSpec(msg, details={"snapshot": str(snapshot)})
    libvirt = libvirt_module()

    def take(dom: Any) -> dict[str, Any]:
        _check_can_snapshot(dom, name)
        if snapshot in [s["name"] for s in _list(dom)]:
            msg = (
                f"VM {name!r} already has a snapshot {snapshot!r}. Choose another name, or "
                f"delete it first (`vm snapshot delete {name} {snapshot}`)."
            )
            raise InvalidVMSpec(msg, details={"name": name, "snapshot": snapshot})
        root = ET.Element("domainsnapshot")
        ET.SubElement(root, "name").text = snapshot
        if description:
            ET.SubElement(root, "description").text = description
        snap = dom.snapshotCreateXML(to_string(root), libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC)
        info = _describe(snap)
        if info["kind"] != "internal":  # never leave an external one behind
            snap.delete(libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY)
            raise VMError(f"libvirt made an external snapshot of {name!r}; removed it.")
        return info

    # long work (saving the guest's memory): no deadline, but refused at once
    # when the VM does not respond, and never run beside another monitor call
    return manager._monitor(name, take, f"taking snapshot {snapshot!r}", None)


def revert(manager: Any, name: str, snapshot: str) -> dict[str, Any]:
    """Go back to *snapshot*: disks, and the running state and memory it was taken in."""

    def back(dom: Any) -> dict[str, Any]:
        snap = _lookup(dom, name, snapshot)
        info = _describe(snap)
        _refuse_external(info, name, "revert")
        dom.revertToSnapshot(snap, 0)
        return info

    reverted = manager._monitor(name, back, f"reverting to snapshot {snapshot!r}", None)
    return {**manager.info(name), "reverted_to": reverted}


def delete(manager: Any, name: str, snapshot: str) -> dict[str, Any]:
    """Delete one snapshot (its children stay; they re-parent)."""

    def remove(dom: Any) -> dict[str, Any]:
        snap = _lookup(dom, name, snapshot)
        info = _describe(snap)
        _refuse_external(info, name, "delete")
        snap.delete(0)
        return info

    gone = manager._monitor(name, remove, f"deleting snapshot {snapshot!r}", None)
    return {"name": name, "deleted_snapshot": gone, "snapshots": list_snapshots(manager, name)}
