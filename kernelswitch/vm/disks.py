"""Every disk image: which VM uses it, its size on disk, and the orphans.

Public API (stable), reached as ``VMManager.disks`` / ``VMManager.delete_disks``:

- :func:`inventory` ``(manager) -> dict`` — ``disks`` (each: ``name, path,
  pool, capacity, allocation, vms, orphan``), ``totals`` (``count,
  allocation, capacity, orphans, orphan_allocation``) and the pool's
  ``available`` bytes. Disks of VMs outside the pool are listed too.
- :func:`delete_orphans` ``(manager, disks) -> dict`` — delete the named pool
  volumes (names or paths) only if no VM uses them; all are checked before
  any is deleted, and the answer names exactly what went and how much.

Why: images outlive their VMs (``vm delete`` keeps disks unless asked), and
users of similar tools found hundreds of GiB of forgotten ones. A disk is an
orphan when no defined VM — running or not, live or persistent view — refers
to it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from .._common import human_size
from ._xml import disk_source
from .connection import libvirt_module
from .errors import DiskNotFound, InvalidVMSpec

__all__ = ["delete_orphans", "inventory"]


def _users(conn: Any) -> dict[str, list[str]]:
    """path -> names of the VMs whose definition (either view) refers to it."""
    libvirt = libvirt_module()
    used: dict[str, list[str]] = {}
    for dom in conn.listAllDomains(0):
        paths = set()
        try:
            name = dom.name()
            flags = [0, libvirt.VIR_DOMAIN_XML_INACTIVE] if dom.isPersistent() else [0]
            roots = [ET.fromstring(dom.XMLDesc(f)) for f in flags]
        except libvirt.libvirtError as e:  # undefined while we looked (other users' VMs)
            if e.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise
            continue
        for root in roots:
            for d in root.findall("./devices/disk"):
                src = disk_source(d)
                if src:
                    paths.add(src)
        for p in paths:
            used.setdefault(p, []).append(name)
    return used


def _scan(manager: Any, conn: Any) -> dict[str, Any]:
    pool = manager.storage._pool(conn)
    pool.refresh(0)
    _state, _capacity, _allocation, available = pool.info()
    used = _users(conn)
    disks = []
    seen = set()
    for vol_name in sorted(pool.listVolumes()):
        try:
            vol = pool.storageVolLookupByName(vol_name)
            _t, cap, alloc = vol.info()
            path = vol.path()
        except Exception:  # vanished between list and lookup
            continue
        seen.add(path)
        vms = sorted(used.get(path, []))
        disks.append(
            {"name": vol_name, "path": path, "pool": manager.storage.pool_name,
             "capacity": cap, "allocation": alloc, "vms": vms, "orphan": not vms}
        )  # fmt: skip
    # Disks VMs use outside our pool (not ISOs: those are media, listed by `vm info`).
    for path, vms in sorted(used.items()):
        if path in seen or path.lower().endswith(".iso"):
            continue
        sizes = manager.storage.volume_sizes(path)
        disks.append(
            {"name": path.rsplit("/", 1)[-1], "path": path, "pool": None,
             "capacity": sizes["capacity"], "allocation": sizes["allocation"],
             "vms": sorted(vms), "orphan": False}
        )  # fmt: skip
    orphans = [d for d in disks if d["orphan"]]
    return {
        "pool": manager.storage.pool_name,
        "pool_path": str(manager.storage._pool_path(pool)),
        "available": available,
        "disks": disks,
        "totals": {
            "count": len(disks),
            "allocation": sum(d["allocation"] or 0 for d in disks),
            "capacity": sum(d["capacity"] or 0 for d in disks),
            "orphans": len(orphans),
            "orphan_allocation": sum(d["allocation"] or 0 for d in orphans),
        },
    }


def inventory(manager: Any) -> dict[str, Any]:
    return manager.storage._call(lambda conn: _scan(manager, conn))


def delete_orphans(manager: Any, disks: list[str]) -> dict[str, Any]:
    """Delete the orphan volumes named in *disks*; refuse all if one is not an orphan."""
    if not disks or not all(isinstance(d, str) and d.strip() for d in disks):
        raise InvalidVMSpec(
            "Name the orphan disks to delete (their name or path from `vm disks`)."
        )

    def delete(conn: Any) -> dict[str, Any]:
        listing = _scan(manager, conn)
        by_key = {}
        for d in listing["disks"]:
            by_key[d["name"]] = d
            by_key[d["path"]] = d
        chosen = []
        for key in dict.fromkeys(disks):  # once each, in the order given
            d = by_key.get(key)
            if d is None:
                orphans = [x["name"] for x in listing["disks"] if x["orphan"]]
                msg = (
                    f"No disk {key!r} in the pool {listing['pool_path']}. Orphans there: "
                    f"{', '.join(orphans) or 'none'} (see `vm disks`)."
                )
                raise DiskNotFound(msg, details={"disk": key, "orphans": orphans})
            if not d["orphan"]:
                msg = (
                    f"{d['name']} is used by VM {', '.join(d['vms'])}; kernelswitch deletes only "
                    f"disks no VM uses. Delete the VM with its disks instead "
                    f"(`vm delete {d['vms'][0]} --disks`)."
                )
                raise InvalidVMSpec(msg, details={"disk": d["path"], "vms": d["vms"]})
            if d not in chosen:
                chosen.append(d)
        removed = []
        for d in chosen:
            if manager.storage.delete_path(d["path"]):
                removed.append(
                    {"name": d["name"], "path": d["path"], "allocation": d["allocation"],
                     "capacity": d["capacity"]}
                )  # fmt: skip
        freed = sum(r["allocation"] or 0 for r in removed)
        return {"removed": removed, "freed": freed, "freed_human": human_size(freed or 0)}

    return manager.storage._call(delete)
