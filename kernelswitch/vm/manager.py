"""The VMs of one libvirt URI: the logic behind ``vm ...`` (REST, magics and CLI).

Public API (stable):

- :class:`VMManager` ``(uri='qemu:///session', pool_dir=None)`` with
  ``create(name, iso, os=None, memory=None, cpus=None, disk=None, start=True)``
  (:mod:`.create`), ``start``, ``shutdown(name, timeout=60, wait=True)``,
  ``destroy``, ``reboot``, ``suspend``, ``resume``, ``press_power_button(name)``
  (:mod:`.power`), the manage verbs (:mod:`.manage`), and here ``info``,
  ``list``, ``delete(name, disks=False, force=False)``, ``storage_usage``,
  ``state(name)``, ``events(cb)``.
  Every method blocks: the server runs them with :meth:`VMManager.aio` (the
  bounded ``libvirt`` pool of :mod:`kernelswitch._executors`, with a deadline),
  the CLI calls them directly. ``await ashutdown(name, timeout, wait)`` is the
  server's shutdown: it waits on events, not in a thread (:mod:`.waits`).
- Answers are JSON-ready dicts (see :meth:`VMManager.info`).
- User timeouts are checked by :func:`.waits.check_timeout` (finite, 0..600 s).

libvirt errors are translated at one boundary (:func:`._domains.translate`)
into the :mod:`.errors` tree.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ._domains import (
    ACTIVE_STATES,
    CALL_DEADLINE,
    STATES,
    forget_preview,
    log_dir,
    preview_dir,
    run_blocking,
    watch_undefines,
)
from ._domains import translate as _translate
from .connection import DEFAULT_URI, Connection, get_connection
from .connection import libvirt_module as _libvirt
from .create import CreateMixin, undefine_domain
from .errors import ShutdownTimeout, VMStateError
from .guard import MONITOR_DEADLINE, MonitorGuard, PoolAdmission
from .guest.verbs import GuestMixin
from .journal import journal_for
from .manage import ManageMixin
from .osinfo import os_name
from .power import POLL_INTERVAL, SHUTDOWN_TIMEOUT, PowerMixin
from .runtime import file_sizes
from .storage import Storage

__all__ = [
    "ACTIVE_STATES", "CALL_DEADLINE", "POLL_INTERVAL", "SHUTDOWN_TIMEOUT", "STATES",
    "ShutdownTimeout", "VMManager", "log_dir", "preview_dir", "run_blocking",
]  # fmt: skip

T = TypeVar("T")

#: Seconds ``info`` waits for the guest's own memory figures (the list never
#: does): an extra, so a busy monitor costs a detail page a quarter second at most.
GUEST_STATS_WAIT = 0.25


class VMManager(GuestMixin, CreateMixin, PowerMixin, ManageMixin):
    """The VMs of one libvirt URI (see the module docstring for where each verb lives)."""

    def __init__(
        self,
        uri: str = DEFAULT_URI,
        *,
        pool_dir: str | os.PathLike[str] | None = None,
        connection: Connection | None = None,
    ) -> None:
        from .hosts.uri import HostURI

        self.uri = uri
        host = HostURI.parse(uri)
        #: on another machine (qemu+ssh://...): its files and sockets are not ours
        self.remote = host.remote
        self.alias = host.alias
        self.connection = connection or get_connection(uri)
        if self.remote:
            from .hosts.media import RemoteStorage

            self.storage: Storage = RemoteStorage(self.connection)
        else:
            self.storage = Storage(self.connection, pool_dir)
        # what failed creates left while libvirtd was away goes on (re)connect
        journal_for(self.connection)
        self._create_lock = threading.Lock()
        self._host_caps: Any = None
        self.guard = MonitorGuard(local=not urlsplit(uri).hostname)
        self.admission = PoolAdmission()

    # ----------------------------------------------------------- plumbing

    async def aio(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking manager method in the ``libvirt`` pool (see :func:`run_blocking`);
        a method on one VM (``aio(m.info, name)``) holds at most
        :data:`~.guard.PER_VM_THREADS` of the pool's threads for that VM."""
        name = args[0] if args and isinstance(args[0], str) else None
        if name is None:
            return await run_blocking(fn, *args, **kwargs)
        async with self.admission.admit(name):
            return await run_blocking(fn, *args, **kwargs)

    def _call(self, fn: Callable[[Any], T], name: str | None = None) -> T:
        watch_undefines(self.connection)
        try:
            return self.connection.call(fn)
        except Exception as e:
            raise _translate(e, name, self.storage) from e

    def _on_domain(self, name: str, fn: Callable[[Any], T]) -> T:
        """``fn(virDomain)`` for the VM called *name*; errors translated."""
        return self._call(lambda conn: fn(conn.lookupByName(name)), name)

    @staticmethod
    def _state(dom: Any) -> str:
        return STATES.get(dom.state()[0], "nostate")

    def state(self, name: str) -> str:
        """The VM's state name (``running``, ``shutoff``, ...)."""
        return self._on_domain(name, self._state)

    # ----------------------------------------------------------- queries

    def names(self) -> list[str]:
        return self._call(lambda conn: sorted(d.name() for d in conn.listAllDomains(0)))

    def info(self, name: str) -> dict[str, Any]:
        """Everything ``vm info`` shows, parsed from the domain XML (sizes in bytes).

        Never waits on the guest's monitor: the guest's own memory figures are
        asked for (:data:`GUEST_STATS_WAIT` s at most) only while it responds.
        """
        return self._on_domain(name, lambda dom: self._info(dom, GUEST_STATS_WAIT))

    def _monitor(
        self,
        name: str,
        fn: Callable[[Any], T],
        what: str,
        deadline: float | None = MONITOR_DEADLINE,
    ) -> T:
        """``fn(virDomain)`` for a call that needs the guest's QEMU monitor: in the
        VM's lane (:mod:`.guard`), 504 ``vm_unresponsive`` past *deadline*."""
        return self.guard.call(name, lambda: self._on_domain(name, fn), what, deadline)

    def _info(self, dom: Any, guest_stats_wait: float = 0.0) -> dict[str, Any]:
        """The record of *dom* from what libvirt knows without the guest's monitor."""
        from .domain import parse_domain

        parsed = parse_domain(dom.XMLDesc(0))
        state = self._state(dom)
        active = state in ACTIVE_STATES
        why = self.guard.unresponsive(parsed["name"], dom) if active else None
        guest_stats = None
        if active and why is None and guest_stats_wait > 0:
            guest_stats = self.guard.try_call(
                parsed["name"], dom.memoryStats, "reading its memory statistics", guest_stats_wait
            )
        disks = []
        for d in parsed["disks"]:
            if d["device"] != "disk":
                continue
            disks.append({**d, **self._disk_sizes(dom, d["path"], active, d.get("format"))})
        media = [
            {"target": m["target"], "bus": m["bus"], "path": m["path"], "ejected": not m["path"],
             "tray": m["tray"] if state in ACTIVE_STATES else "closed", "alias": m["alias"]}
            for m in parsed["media"]
        ]
        uuid = parsed["uuid"]
        preview = preview_dir() / f"{uuid}.png"
        return {
            "id": parsed["id"] if state in ACTIVE_STATES else None,
            "name": parsed["name"],
            "uuid": uuid,
            "state": state,
            "os_id": parsed["os_id"],
            "os_name": os_name(parsed["os_id"]),
            "memory": parsed["memory"],
            "vcpus": parsed["vcpus"],
            "machine": parsed["machine"],
            "firmware": parsed["firmware"],
            "type": parsed["type"],
            "disks": disks,
            "media": media,
            "interfaces": parsed["interfaces"],
            "serial_log": parsed["serial_log"],
            "preview_path": str(preview) if preview.is_file() else None,
            "preview": preview.is_file(),  # kept by the console
            "persistent": bool(dom.isPersistent()),
            "uri": self.uri,
            "responsive": why is None,
            "unresponsive_reason": why,
            "host": self.alias,  # "local", or user@host[:port] of a remote libvirt host
            **self._runtime_info(dom, state, parsed, guest_stats),
        }

    def _disk_sizes(
        self, dom: Any, path: str | None, active: bool = False, fmt: str | None = None
    ) -> dict[str, int | None]:
        """Virtual size and bytes used; libvirt reads qcow2 headers even when shut off.

        A running VM's disks are read from the file (local hosts) or the pool,
        because ``blockInfo`` of a live domain asks its QEMU monitor."""
        if not path:
            return {"capacity": None, "allocation": None}
        if active:
            sizes = file_sizes(path, fmt) if self.guard.local else None
            return sizes if sizes is not None else self.storage.volume_sizes(path)
        try:
            capacity, allocation, _physical = dom.blockInfo(path, 0)
            return {"capacity": int(capacity), "allocation": int(allocation)}
        except Exception:  # not readable now (e.g. missing file): ask the pool
            return self.storage.volume_sizes(path)

    def list(self) -> list[dict[str, Any]]:
        """``info`` of every VM, by name."""
        libvirt = _libvirt()

        def collect(conn: Any) -> list[dict[str, Any]]:
            out = []
            for dom in conn.listAllDomains(0):
                try:
                    out.append(self._info(dom))
                except libvirt.libvirtError as e:  # undefined while we looked
                    if e.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                        raise
            return sorted(out, key=lambda i: i["name"])

        return self._call(collect)

    def storage_usage(self) -> dict[str, Any]:
        """The pool's sizes and volumes (``GET storage``)."""
        return self.storage.usage()  # a pool busy elsewhere is waited out (Connection.call)

    # ----------------------------------------------------------- delete

    def delete(self, name: str, disks: bool = False, force: bool = False) -> dict[str, Any]:
        """Undefine the VM (with NVRAM, snapshot metadata, managed save).

        Its disks are removed only when *disks* is true, and never while another
        VM uses them; the answer lists exactly what was removed and what kept.
        A running VM is refused unless *force* (then it is destroyed first).
        """
        libvirt = _libvirt()
        removed: list[str] = []
        kept: list[dict[str, str]] = []

        def undefine(conn: Any) -> tuple[list[str], str | None]:
            from .domain import parse_domain

            dom = conn.lookupByName(name)
            # Only the XML and the state: the disk sizes `info` reads are not needed here.
            parsed = parse_domain(dom.XMLDesc(0))
            state = self._state(dom)
            if state in ACTIVE_STATES:
                if not force:
                    raise VMStateError(
                        f"VM {name!r} is {state}. Shut it down first, or delete "
                        "with --force to stop it now.",
                        details={"name": name, "state": state},
                    )
                with contextlib.suppress(libvirt.libvirtError):
                    dom.destroy()
            undefine_domain(dom)
            forget_preview(parsed["uuid"])
            disks = [d["path"] for d in parsed["disks"] if d["device"] == "disk" and d["path"]]
            return disks, parsed["serial_log"]

        paths, serial_log = self._call(undefine, name)
        if disks:
            in_use = self._disks_in_use()
            for path in paths:
                if path in in_use:
                    kept.append({"path": path, "reason": f"used by VM {in_use[path]!r}"})
                    continue
                try:
                    if self.storage.delete_path(path):
                        removed.append(path)
                    else:
                        kept.append({"path": path, "reason": "not found"})
                except Exception as e:
                    kept.append({"path": path, "reason": str(_translate(e, name))})
        else:
            kept = [{"path": p, "reason": "not asked to remove disks"} for p in paths]
        if serial_log and Path(serial_log).parent == log_dir():
            with contextlib.suppress(OSError):
                Path(serial_log).unlink()
        return {"name": name, "deleted": True, "removed_disks": removed, "kept_disks": kept}

    def _disks_in_use(self) -> dict[str, str]:
        from .domain import parse_domain

        libvirt = _libvirt()

        def scan(conn: Any) -> dict[str, str]:
            used = {}
            for dom in conn.listAllDomains(0):
                try:
                    xml = dom.XMLDesc(0)
                except libvirt.libvirtError as e:  # undefined while we looked: uses nothing
                    if e.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                        raise
                    continue
                for d in parse_domain(xml)["disks"]:
                    if d["path"]:
                        used[d["path"]] = dom.name()
            return used

        return self._call(scan)

    # ----------------------------------------------------------- misc

    @contextlib.contextmanager
    def events(self, cb: Callable[[Any], None]) -> Iterator[None]:
        """Subscribe *cb* to this URI's VM events for the duration of a ``with``."""
        remove = self.connection.add_listener(cb)
        try:
            yield
        finally:
            remove()
