"""Disks and ISOs on a remote host live in its storage pools.

Public API (stable):

- :class:`RemoteStorage` — :class:`~kernelswitch.vm.storage.Storage` on a
  pool the host already has (``kernelswitch``, else ``default``, else its
  first running directory pool); it never makes folders: they would be
  made on *this* machine, not there.
- :func:`pool_isos` ``(conn) -> [{"name", "path", "pool", "size"}]`` — the
  ISOs in the host's pools (what ``--iso`` and the create form offer).
- :func:`check_room_for` ``(manager, size)`` — refuses (``PoolFull``) an upload
  larger than the host pool's free space, before anything is copied.
- :func:`upload_iso` ``(storage, local_path, progress) -> remote path`` — a
  local ISO copied into the pool over a libvirt stream
  (``virStorageVol.upload``); an identical one already there is reused.

Why upload: a remote QEMU cannot read the server's disk, and a path that
happens to exist on both machines would silently boot a different file.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from ..connection import libvirt_module
from ..errors import HostError
from ..storage import POOL_NAME, Storage
from .uri import HostURI

#: Bytes per stream send (libvirt's RPC messages carry up to 256 KiB of data).
CHUNK = 256 * 1024
PREFERRED_POOLS = (POOL_NAME, "default")


class RemoteStorage(Storage):
    """The disk pool of a remote host (see the module docstring)."""

    def _pool(self, conn: Any) -> Any:
        libvirt = libvirt_module()
        pools = {p.name(): p for p in conn.listAllStoragePools(0)}
        for name in PREFERRED_POOLS:
            if name in pools:
                pool = pools[name]
                break
        else:
            dirs = [p for p in pools.values() if p.isActive() and _pool_type(p) == "dir"]
            if not dirs:
                h = HostURI.parse(self.connection.uri)
                raise HostError(
                    f"{h.alias} has no storage pool for VM disks and ISOs. Make one there, e.g. "
                    f"`virsh -c '{self.connection.uri}' pool-define-as default dir --target "
                    "/var/lib/libvirt/images && virsh -c ... pool-start default && "
                    "virsh -c ... pool-autostart default`.",
                    details={"uri": self.connection.uri},
                )
            pool = dirs[0]
        if not pool.isActive():
            try:
                pool.create(0)
            except libvirt.libvirtError as e:
                raise HostError(
                    f"The storage pool {pool.name()!r} on "
                    f"{HostURI.parse(self.connection.uri).alias} does not start: "
                    f"{e.get_error_message()}.",
                    details={"uri": self.connection.uri, "pool": pool.name()},
                ) from e
        self.pool_name = pool.name()
        return pool

    def _pool_path(self, pool: Any) -> Path:
        path = ET.fromstring(pool.XMLDesc(0)).findtext("./target/path") or "/"
        return Path(PurePosixPath(path))

    # A path on the host is never looked up on this machine's disk.

    def delete_path(self, path: str) -> bool:
        libvirt = libvirt_module()

        def delete(conn: Any) -> bool:
            try:
                vol = conn.storageVolLookupByPath(path)
            except libvirt.libvirtError:
                return False
            vol.delete(0)
            return True

        return bool(self.connection.call(delete))

    def volume_sizes(self, path: str) -> dict[str, int | None]:
        def sizes(conn: Any) -> dict[str, int | None]:
            try:
                _type, capacity, allocation = conn.storageVolLookupByPath(path).info()
            except libvirt_module().libvirtError:
                return {"capacity": None, "allocation": None}
            return {"capacity": int(capacity), "allocation": int(allocation)}

        return dict(self.connection.call(sizes))


def _pool_type(pool: Any) -> str:
    return str(ET.fromstring(pool.XMLDesc(0)).get("type"))


def pool_isos(conn: Any) -> list[dict[str, Any]]:
    """The ``.iso`` volumes of every running pool on the host."""
    out = []
    for pool in conn.listAllStoragePools(0):
        if not pool.isActive():
            continue
        try:
            pool.refresh(0)
        except Exception:  # busy with another client's job: list what it has
            pass
        for vol in pool.listAllVolumes(0):
            if vol.name().lower().endswith(".iso"):
                _type, capacity, _alloc = vol.info()
                out.append({"name": vol.name(), "path": vol.path(), "pool": pool.name(),
                            "size": int(capacity)})  # fmt: skip
    return sorted(out, key=lambda r: (r["pool"], r["name"]))


def find_pool_iso(conn: Any, wanted: str) -> str | None:
    """The remote path of an ISO in the host's pools named by *wanted* (path or name)."""
    for iso in pool_isos(conn):
        if wanted in (iso["path"], iso["name"]):
            return str(iso["path"])
    return None


def check_room_for(manager: Any, size: int) -> None:
    """Refuse an ISO of *size* bytes that *manager*'s host pool has no room for:
    refused now, not after minutes of copying (the server's upload job and the
    CLI's create both ask)."""
    from ..._common import human_size
    from ..errors import PoolFull

    free = manager.storage.available()
    if free is None or size <= free:
        return
    pool, host = manager.storage.pool_name, manager.alias
    raise PoolFull(
        f"The ISO is {human_size(size)} but the storage pool {pool!r} on {host} has "
        f"{human_size(free)} free. Free some space there (unused disks: `vm disks --host "
        f"{host}`) or put the ISO into one of its pools. Nothing was uploaded.",
        details={"pool": pool, "available": free, "size": size, "uri": manager.uri},
    )


def upload_iso(
    storage: Storage,
    local: str | os.PathLike[str],
    progress: Callable[[str], None] | None = None,
    sent_bytes: Callable[[int, int], None] | None = None,
) -> str:
    """Copy local ISO *local* into *storage*'s pool; returns its path on the host.

    *sent_bytes* ``(sent, total)`` is told after every chunk (an upload job's bar)."""
    libvirt = libvirt_module()
    say = progress or (lambda _m: None)
    src = Path(local)
    size = src.stat().st_size

    def upload(conn: Any) -> str:
        pool = storage._pool(conn)
        pool.refresh(0)
        existing = {v.name(): v for v in pool.listAllVolumes(0)}
        name, n = src.name, 1
        while name in existing:
            if existing[name].info()[1] == size:
                say(f"{src.name} is already on the host ({existing[name].path()})")
                return str(existing[name].path())
            name = f"{src.stem}-{n}{src.suffix}"
            n += 1
        vol_xml = ET.Element("volume")
        ET.SubElement(vol_xml, "name").text = name
        ET.SubElement(vol_xml, "capacity", unit="bytes").text = str(size)
        target = ET.SubElement(vol_xml, "target")
        ET.SubElement(target, "format", type="raw")
        vol = pool.createXML(ET.tostring(vol_xml, encoding="unicode"), 0)
        stream = conn.newStream(0)
        sent = 0
        step = max(size // 20, CHUNK)
        next_say = 0
        try:
            vol.upload(stream, 0, size, 0)
            with src.open("rb") as f:
                while chunk := f.read(CHUNK):
                    view = memoryview(chunk)
                    while view:
                        n_sent = stream.send(bytes(view))
                        view = view[n_sent:]
                    sent += len(chunk)
                    if sent_bytes is not None:
                        sent_bytes(sent, size)
                    if sent >= next_say:
                        say(f"uploading {src.name}: {sent * 100 // max(size, 1)}%")
                        next_say += step
            stream.finish()
        except BaseException:
            try:
                stream.abort()
            except libvirt.libvirtError:
                pass
            try:
                vol.delete(0)  # a partial ISO must never be booted
            except libvirt.libvirtError:
                pass
            raise
        say(f"uploaded {src.name} ({size} bytes)")
        return str(vol.path())

    return storage.connection.call(upload)
