"""The storage pool VM disks live in: a libvirt directory pool made on first use.

Public API (stable):

- :func:`default_pool_dir` — ``$KERNELSWITCH_POOL_DIR``; for root
  ``/var/lib/kernelswitch/images`` (its guests run as libvirt-qemu, which cannot
  enter /root); else ``$XDG_DATA_HOME/kernelswitch/images``
  (``~/.local/share/kernelswitch/images``).
- :class:`Storage` ``(connection, pool_dir=None, pool_name='kernelswitch')`` —
  ``ensure_pool()``, ``create_volume(name, size) -> VolumeRef``,
  ``delete_path(path) -> bool``, ``usage() -> dict`` (the ``GET storage`` body).

All calls block: run them off the event loop.

Guests run as the hypervisor user (``libvirt-qemu`` under a privileged
daemon). libvirt hands disk files to that user while a guest runs, but every
folder above the pool must be searchable by it. When one is not, we say which
and how to fix it; we never change permissions outside our own pool folder.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .connection import Connection, is_connection_error, libvirt_module
from .errors import HostError, VMError
from .host import hypervisor_user, unsearchable_dirs

__all__ = ["POOL_NAME", "Storage", "VolumeRef", "default_pool_dir"]

POOL_NAME = "kernelswitch"
POOL_DIR_ENV = "KERNELSWITCH_POOL_DIR"


def default_pool_dir() -> Path:
    env = os.environ.get(POOL_DIR_ENV)
    if env:
        return Path(env)
    if os.geteuid() == 0:
        # root's guests run as libvirt-qemu, which cannot enter /root (0700):
        # use a system folder, as virt-manager does for system VMs.
        return Path("/var/lib/kernelswitch/images")
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "kernelswitch" / "images"


_NO_SPACE = ("no space left on device", "not enough space", "not enough free space", "enospc")


def is_no_space(e: BaseException) -> bool:
    """Whether an error (libvirt's, QEMU's through libvirt, or an OSError) is a full disk."""
    if isinstance(e, OSError) and e.errno == errno.ENOSPC:
        return True
    libvirt = libvirt_module()
    if isinstance(e, libvirt.libvirtError):
        text = str(e).lower()
        return any(s in text for s in _NO_SPACE)
    return False


def is_write_error(e: BaseException) -> bool:
    """An I/O error while QEMU or libvirt wrote (a full disk can show up as this)."""
    libvirt = libvirt_module()
    if not isinstance(e, libvirt.libvirtError):
        return False
    text = str(e).lower()
    return "input/output error" in text or "error while writing" in text


def pool_full(e: BaseException, name: str | None = None, storage: Storage | None = None) -> VMError:
    """The 507 ``pool_full`` answer for a full disk, with the free space when known."""
    from .._common import human_size
    from .errors import PoolFull

    where, free = "the storage pool", None
    if storage is not None:
        where = f"the storage pool {storage.pool_name!r}"
        free = storage.available()
    what = f" for VM {name!r}" if name else ""
    msg = (
        f"No space left in {where}{what}: "
        + (f"{human_size(free)} free. " if free is not None else "")
        + "Free some: unused disks (`vm disks`, then `vm disks --delete NAME.qcow2`), old "
        "snapshots or whole VMs (`vm delete NAME --disks`); or choose a smaller disk. "
        "Then try again."
    )
    details: dict[str, Any] = {"available": free}
    if name:
        details["name"] = name
    if storage is not None:
        details["pool"] = storage.pool_name
    return PoolFull(msg, details=details)


@dataclasses.dataclass(frozen=True)
class VolumeRef:
    name: str
    path: str
    capacity: int


class Storage:
    """Our directory pool on one libvirt connection."""

    def __init__(
        self,
        connection: Connection,
        pool_dir: str | os.PathLike[str] | None = None,
        pool_name: str = POOL_NAME,
    ) -> None:
        self.connection = connection
        self.pool_dir = Path(pool_dir) if pool_dir is not None else default_pool_dir()
        self.pool_name = pool_name
        #: where the folder came from, when someone chose it (checked against the pool)
        self.chosen_by = (
            "the pool_dir argument" if pool_dir is not None
            else POOL_DIR_ENV if os.environ.get(POOL_DIR_ENV) else None
        )  # fmt: skip

    # ------------------------------------------------------------ the pool

    def _check_reachable(self) -> None:
        user = hypervisor_user(self.connection.uri)
        blocked = [d for d, _mode in unsearchable_dirs(self.pool_dir, user)]
        if blocked:
            msg = (
                f"VM disks go to {self.pool_dir}, but the hypervisor runs as user "
                f"{user.name!r}, which cannot enter {', '.join(blocked)}. Fix: allow it to "
                f"pass through (`chmod o+x {' '.join(blocked)}`), or choose a pool folder it "
                f"can reach with {POOL_DIR_ENV}=/var/lib/libvirt/images/kernelswitch."
            )
            raise HostError(msg, details={"pool_dir": str(self.pool_dir), "blocked": blocked})

    def ensure_pool(self) -> Any:
        """The started ``virStoragePool`` (defined, built and autostarted on first use)."""
        return self._call(self._pool)

    def _call(self, fn: Any) -> Any:
        libvirt = libvirt_module()
        try:
            return self.connection.call(fn)
        except Exception as e:
            if is_no_space(e):
                raise pool_full(e, None, self) from e
            if not isinstance(e, (libvirt.libvirtError, OSError)):
                raise
            if isinstance(e, OSError):
                msg = f"Cannot use the disk folder {self.pool_dir}: {e.strerror}."
                raise HostError(msg) from e
            msg = f"Storage pool {self.pool_name!r} at {self.pool_dir}: {e.get_error_message()}."
            raise HostError(msg) from e

    def available(self) -> int | None:
        """Free bytes in the pool as libvirt sees it (None when it cannot say)."""
        try:
            pool = self.connection.call(self._pool)
            pool.refresh(0)
            return int(pool.info()[3])
        except Exception:
            pass
        try:
            st = os.statvfs(self.pool_dir)
            return st.f_bavail * st.f_frsize
        except OSError:
            return None

    def _pool(self, conn: Any) -> Any:
        libvirt = libvirt_module()
        try:
            pool = conn.storagePoolLookupByName(self.pool_name)
        except libvirt.libvirtError as e:
            if e.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_POOL:
                raise
            pool = None
        if pool is not None:
            self._check_same_folder(pool)
        else:
            # Our own folder: 0711 lets the hypervisor user reach its disks,
            # not list them. Parents are created with the usual umask.
            self.pool_dir.parent.mkdir(parents=True, exist_ok=True)
            self.pool_dir.mkdir(mode=0o711, exist_ok=True)
            self._check_reachable()
            pool = conn.storagePoolDefineXML(self._pool_xml(), 0)
            try:
                pool.setAutostart(1)
            except libvirt.libvirtError:
                pass  # some daemons refuse autostart; we start it on use anyway
        if not pool.isActive():
            path = ET.fromstring(pool.XMLDesc(0)).findtext("./target/path")
            if path:
                Path(path).mkdir(mode=0o711, parents=True, exist_ok=True)
            pool.create(0)
        return pool

    def _check_same_folder(self, pool: Any) -> None:
        """Refuse a chosen pool folder that the existing pool does not use.

        libvirt keeps the folder in the pool's definition, so once the pool
        exists a different $KERNELSWITCH_POOL_DIR would otherwise be ignored
        without a word and disks would land where the user said not to.
        """
        if self.chosen_by is None:
            return
        path = ET.fromstring(pool.XMLDesc(0)).findtext("./target/path") or ""
        if os.path.realpath(path) == os.path.realpath(self.pool_dir):
            return
        msg = (
            f"{self.chosen_by} asks for VM disks in {self.pool_dir}, but the libvirt storage "
            f"pool {self.pool_name!r} already keeps them in {path}. Fix: unset "
            f"{POOL_DIR_ENV} (or set it to {path}) to keep using that folder, or retire the "
            f"old pool first (`virsh pool-destroy {self.pool_name} && virsh pool-undefine "
            f"{self.pool_name}`; its files stay in {path}) and a new one is made in "
            f"{self.pool_dir}."
        )
        raise HostError(
            msg, details={"pool_dir": str(self.pool_dir), "pool_path": path, "pool": self.pool_name}
        )

    def _pool_xml(self) -> str:
        pool = ET.Element("pool", type="dir")
        ET.SubElement(pool, "name").text = self.pool_name
        target = ET.SubElement(pool, "target")
        ET.SubElement(target, "path").text = str(self.pool_dir)
        return ET.tostring(pool, encoding="unicode")

    def pool_path(self) -> Path:
        return self._call(lambda conn: self._pool_path(self._pool(conn)))

    def free(self) -> dict[str, Any]:
        """The one free-space figure shown and checked everywhere: the pool's
        ``available`` (``{"pool", "path", "available", "where"}``).

        Why not ``df``: libvirt allocates volumes from the pool, and its figure
        counts the filesystem's free blocks (statvfs ``f_bfree``); ``df`` shows
        what unprivileged users may still write (``f_bavail``), which leaves out
        the blocks reserved for root. QEMU writes the disks as the daemon's
        user, root on this host, so the pool's figure is the one that holds
        (on the test machine 150 G are reserved: 219 G vs df's 69 G).
        """

        def free(conn: Any) -> dict[str, Any]:
            pool = self._pool(conn)
            pool.refresh(0)
            path = self._pool_path(pool)
            return {"pool": self.pool_name, "path": str(path), "available": pool.info()[3],
                    "where": f"pool {self.pool_name} ({path})"}  # fmt: skip

        return self._call(free)

    def _pool_path(self, pool: Any) -> Path:
        path = ET.fromstring(pool.XMLDesc(0)).findtext("./target/path")
        return Path(path or self.pool_dir)

    # ------------------------------------------------------------ volumes

    def create_volume(
        self, vm_name: str, size: int, before: Callable[[str], None] | None = None
    ) -> VolumeRef:
        """A new qcow2 volume for *vm_name* (never reuses an existing file).

        *before(path)* is called with the chosen path just before the volume
        is made (a journal writes it down: the daemon may die mid-call).
        """
        libvirt = libvirt_module()

        def create(conn: Any) -> VolumeRef:
            pool = self._pool(conn)
            pool.refresh(0)
            existing = set(pool.listVolumes())
            directory = self._pool_path(pool)
            name = f"{vm_name}.qcow2"
            n = 1
            while name in existing or (directory / name).exists():
                name = f"{vm_name}-{n}.qcow2"
                n += 1
            vol = ET.Element("volume")
            ET.SubElement(vol, "name").text = name
            ET.SubElement(vol, "capacity", unit="bytes").text = str(int(size))
            ET.SubElement(vol, "allocation", unit="bytes").text = "0"
            target = ET.SubElement(vol, "target")
            ET.SubElement(target, "format", type="qcow2")
            if before is not None:
                before(str(directory / name))
            try:
                v = pool.createXML(ET.tostring(vol, encoding="unicode"), 0)
            except libvirt.libvirtError as e:
                if is_connection_error(e) or is_no_space(e):
                    raise  # the caller's boundary says what happened
                msg = f"Cannot create the disk {name} in {directory}: {e.get_error_message()}."
                raise VMError(msg) from e
            return VolumeRef(name=name, path=v.path(), capacity=int(size))

        return self._call(create)

    def delete_path(self, path: str) -> bool:
        """Delete the disk at *path*: through libvirt when it is a volume, else the file.

        True when something was removed.
        """
        libvirt = libvirt_module()

        def delete(conn: Any) -> bool:
            try:
                vol = conn.storageVolLookupByPath(path)
            except libvirt.libvirtError:
                vol = None
            if vol is not None:
                try:
                    vol.delete(0)
                    return True
                except libvirt.libvirtError:
                    if os.path.exists(path):
                        raise
                    return False
            if os.path.isfile(path):
                os.remove(path)
                return True
            return False

        return self.connection.call(delete)

    def volume_sizes(self, path: str) -> dict[str, int | None]:
        """Capacity (virtual size) and allocation (bytes on disk) of the disk at *path*."""
        libvirt = libvirt_module()

        def sizes(conn: Any) -> dict[str, int | None]:
            try:
                vol = conn.storageVolLookupByPath(path)
                _type, capacity, allocation = vol.info()
                return {"capacity": int(capacity), "allocation": int(allocation)}
            except libvirt.libvirtError:
                pass
            try:
                st = os.stat(path)
            except OSError:
                return {"capacity": None, "allocation": None}
            return {"capacity": st.st_size, "allocation": st.st_blocks * 512}

        return self.connection.call(sizes)

    def usage(self) -> dict[str, Any]:
        """Pool capacity and the disks in it (bytes)."""

        def usage(conn: Any) -> dict[str, Any]:
            pool = self._pool(conn)
            pool.refresh(0)
            _state, capacity, allocation, available = pool.info()
            volumes = []
            for name in sorted(pool.listVolumes()):
                try:
                    v = pool.storageVolLookupByName(name)
                    _t, cap, alloc = v.info()
                except Exception:  # vanished between list and lookup
                    continue
                volumes.append(
                    {"name": name, "path": v.path(), "capacity": cap, "allocation": alloc}
                )
            return {
                "pool": self.pool_name,
                "path": str(self._pool_path(pool)),
                "capacity": capacity,
                "allocation": allocation,
                "available": available,
                "volumes": volumes,
            }

        return self._call(usage)
