"""Create and run VMs: the logic behind ``vm ...`` (REST, magics and CLI).

Public API (stable):

- :class:`VMManager` ``(uri='qemu:///session', pool_dir=None)`` with
  ``create(name, iso, os=None, memory=None, cpus=None, disk=None, start=True)``,
  ``start``, ``shutdown(name, timeout=60, wait=True)``, ``destroy``, ``reboot``,
  ``suspend``, ``resume``, ``info``, ``list``, ``delete(name, disks=False,
  force=False)``, ``storage_usage``, ``state(name)``, ``press_power_button(name)``.
  Every method blocks: the server runs them with :meth:`VMManager.aio` (the
  bounded ``libvirt`` pool of :mod:`kernelswitch._executors`, with a deadline),
  the CLI calls them directly. ``await ashutdown(name, timeout, wait)`` is the
  server's shutdown: it waits on events, not in a thread (:mod:`.waits`).
- Answers are JSON-ready dicts (see :meth:`VMManager.info`).
- User timeouts are checked by :func:`.waits.check_timeout` (finite, 0..600 s).

libvirt errors are translated here, at one boundary (:func:`_translate`), into
the :mod:`.errors` tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from .._echo import short as _short
from .._executors import run_in
from .._paths import cache_dir
from .connection import DEFAULT_URI, Connection, get_connection, is_connection_error
from .connection import libvirt_module as _libvirt
from .errors import (
    HostError,
    InvalidVMSpec,
    ShutdownTimeout,
    VMBusy,
    VMError,
    VMExists,
    VMNotFound,
    VMStateError,
)
from .manage import ManageMixin
from .storage import Storage, default_pool_dir

__all__ = ["STATES", "ShutdownTimeout", "VMManager"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: libvirt's virDomainState values, as our API names them.
STATES = {
    0: "nostate",
    1: "running",
    2: "blocked",
    3: "paused",
    4: "shutting-down",
    5: "shutoff",
    6: "crashed",
    7: "pmsuspended",
}
ACTIVE_STATES = ("running", "blocked", "paused", "shutting-down", "pmsuspended")
#: Default seconds a guest gets to power off after the ACPI power button.
SHUTDOWN_TIMEOUT = 60.0
POLL_INTERVAL = 0.2
#: Seconds a blocking libvirt call may take in the server before the request
#: answers 503 (the thread is left to finish; the pool is bounded).
CALL_DEADLINE = 120.0


def preview_dir() -> Path:
    """Where console screenshots used as VM previews are kept."""
    return cache_dir() / "previews"


def log_dir() -> Path:
    """Serial logs of the guests (``<serial type='file'>``)."""
    return default_pool_dir().parent / "logs"


def _translate(e: Exception, name: str | None = None) -> Exception:
    """A libvirt error as one of ours (other exceptions pass through)."""
    libvirt = _libvirt()
    if not isinstance(e, libvirt.libvirtError):
        return e
    code = e.get_error_code()
    text = e.get_error_message() or str(e)
    vm = f"VM {name!r}" if name else "the VM"
    if code == libvirt.VIR_ERR_NO_DOMAIN:
        return VMNotFound(
            f"There is no VM named {name!r}. List them with `kernelswitch vm list`.",
            details={"name": name},
        )
    if code == libvirt.VIR_ERR_OPERATION_INVALID:
        return VMStateError(f"Cannot do that to {vm} now: {text}.", details={"name": name})
    if code == libvirt.VIR_ERR_OPERATION_TIMEOUT:
        # another libvirt client (virsh, another server) holds the VM's state lock
        return VMBusy(
            f"{vm} is busy with another libvirt client's operation ({text}). "
            "Try again in a moment.",
            details={"name": name},
        )
    if code == libvirt.VIR_ERR_DOM_EXIST or "already exists" in text:
        return VMExists(
            f"{vm} already exists ({text}). Choose another name.", details={"name": name}
        )
    if "Permission denied" in text:
        return HostError(
            f"The hypervisor cannot open a file of {vm}: {text}. Guests run as the "
            "hypervisor user (libvirt-qemu under a privileged daemon): every folder above "
            "the ISO and the disks must be searchable by it. Move the files somewhere it can "
            "reach, or grant it access; kernelswitch does not change permissions for you.",
            details={"name": name},
        )
    if is_connection_error(e):
        return HostError(
            f"Lost the connection to libvirt: {text}. Is libvirtd running?", details={"name": name}
        )
    return VMError(f"libvirt refused the operation on {vm}: {text}.", details={"name": name})


async def run_blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in the bounded ``libvirt`` pool, within :data:`CALL_DEADLINE`."""
    try:
        return await asyncio.wait_for(run_in("libvirt", fn, *args, **kwargs), CALL_DEADLINE)
    except asyncio.TimeoutError as e:
        what = getattr(fn, "__name__", "a call")
        raise HostError(
            f"libvirt did not finish {what} within {CALL_DEADLINE:g} s. Is libvirtd "
            "overloaded or stuck? Check it with `virsh list`; restart it if it hangs.",
        ) from e


class VMManager(ManageMixin):
    """The VMs of one libvirt URI (manage verbs: :mod:`.manage`)."""

    def __init__(
        self,
        uri: str = DEFAULT_URI,
        *,
        pool_dir: str | os.PathLike[str] | None = None,
        connection: Connection | None = None,
    ) -> None:
        self.uri = uri
        self.connection = connection or get_connection(uri)
        self.storage = Storage(self.connection, pool_dir)
        self._create_lock = threading.Lock()
        self._host_caps: Any = None

    # ----------------------------------------------------------- plumbing

    async def aio(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking manager method in the ``libvirt`` pool (see :func:`run_blocking`)."""
        return await run_blocking(fn, *args, **kwargs)

    def _call(self, fn: Callable[[Any], T], name: str | None = None) -> T:
        try:
            return self.connection.call(fn)
        except Exception as e:
            raise _translate(e, name) from e

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
        """Everything ``vm info`` shows, parsed from the domain XML (sizes in bytes)."""
        return self._on_domain(name, self._info)

    def _info(self, dom: Any) -> dict[str, Any]:
        from .domain import parse_domain

        parsed = parse_domain(dom.XMLDesc(0))
        state = self._state(dom)
        disks = []
        for d in parsed["disks"]:
            if d["device"] != "disk":
                continue
            disks.append({**d, **self._disk_sizes(dom, d["path"])})
        media = [
            {"target": m["target"], "bus": m["bus"], "path": m["path"], "ejected": not m["path"]}
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
            **self._runtime_info(dom, state, parsed),
        }

    def _disk_sizes(self, dom: Any, path: str | None) -> dict[str, int | None]:
        """Virtual size and bytes used; libvirt reads qcow2 headers even when shut off."""
        if not path:
            return {"capacity": None, "allocation": None}
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

    # ----------------------------------------------------------- create

    def create(
        self,
        name: str,
        iso: str,
        os: str | None = None,  # REST key name; shadows the module inside
        memory: str | int | None = None,
        cpus: str | int | None = None,
        disk: str | int | None = None,
        start: bool = True,
        *,
        limits: Any = None,
        progress: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Validate, identify, make the disk, define (and start) the VM; return its info.

        Nothing exists before validation passes; a failure after that removes
        exactly what this call made (volume, definition, serial log).
        """
        from .host import host_limits
        from .spec import resolve_spec

        say = progress or (lambda _msg: None)
        with self._create_lock:
            say("checking the request")
            existing = self.names()
            if isinstance(name, str) and name in existing:
                # 409 like a lost same-name race, not a 400: the request was fine
                raise VMExists(
                    f"A VM named {name!r} already exists. Choose another name, or delete the "
                    f"existing one first (`kernelswitch vm delete {name}`).",
                    details={"name": name},
                )
            pool_dir = self.storage.pool_path()
            try:
                spec, os_info = resolve_spec(
                    name,
                    iso,
                    os,
                    memory,
                    cpus,
                    disk,
                    start,
                    existing_names=existing,
                    limits=limits or host_limits(pool_dir),
                    uri=self.uri,
                )
            except OSError as e:  # e.g. a path component longer than the file system allows
                raise InvalidVMSpec(
                    f"Cannot use the ISO path {_short(str(iso))!r}: {e.strerror or e}. "
                    "Give the path of an .iso file on the server host.",
                    details={"field": "iso", "iso": _short(str(iso))},
                ) from e
            except OverflowError as e:
                raise InvalidVMSpec(
                    "A size is too large to be real; give memory and disk like 2G or 20G.",
                    details={"field": "memory" if memory is not None else "disk"},
                ) from e
            return self.create_spec(spec, os_info, progress=say)

    def create_spec(
        self, spec: Any, os_info: Any, *, progress: Callable[[str], None] | None = None
    ) -> dict[str, Any]:
        """Create a VM from an already validated :class:`~.spec.VMSpec`."""
        from .domain import build_domain_xml
        from .host import detect_accel

        say = progress or (lambda _msg: None)
        libvirt = _libvirt()
        made_volume: str | None = None
        made_uuid: str | None = None
        serial_log = log_dir() / f"{spec.name}.serial.log"
        log_existed = serial_log.exists()
        try:
            say(f"creating a {spec.disk // 1024**3 or 1} GiB disk")
            vol = self.storage.create_volume(spec.name, spec.disk)
            made_volume = vol.path
            serial_log.parent.mkdir(parents=True, exist_ok=True)
            accel = detect_accel()
            xml = build_domain_xml(
                spec,
                os_info,
                disk_path=vol.path,
                serial_log=str(serial_log),
                uri=self.uri,
                accel=accel,
                host_caps=self._caps(accel),
            )
            say("defining the VM")
            dom = self._call(lambda conn: conn.defineXML(xml), spec.name)
            made_uuid = dom.UUIDString()
            if spec.start:
                say("starting the VM")
                self._call(lambda conn: conn.lookupByUUIDString(made_uuid).create(), spec.name)
            say("done")
            return self.info(spec.name)
        except BaseException as e:
            self._undo_create(spec.name, made_uuid, made_volume, serial_log, log_existed)
            if isinstance(e, libvirt.libvirtError):
                raise _translate(e, spec.name) from e
            raise

    def _caps(self, accel: Any) -> Any:
        from .host import domain_caps

        if self._host_caps is None:
            self._host_caps = self.connection.call(lambda conn: domain_caps(conn, accel))
        return self._host_caps

    def _undo_create(
        self,
        name: str,
        uuid: str | None,
        volume: str | None,
        serial_log: Path,
        log_existed: bool,
    ) -> None:
        """Remove what a failed create made, and nothing else."""
        libvirt = _libvirt()
        if uuid is not None:

            def undefine(conn: Any) -> bool:
                try:
                    dom = conn.lookupByUUIDString(uuid)
                except libvirt.libvirtError:
                    return False  # someone else deleted it: its disks are theirs to report
                if dom.isActive():
                    dom.destroy()
                self._undefine(dom)
                return True

            try:
                if not self.connection.call(undefine):
                    log.warning(
                        "vm=%s: deleted by another request during its create; "
                        "leaving %s as that delete reported it",
                        name,
                        volume,
                    )
                    volume = None
            except Exception:
                log.exception("vm=%s: could not undefine after a failed create", name)
        if volume is not None:
            try:
                self.storage.delete_path(volume)
            except Exception:
                log.exception("vm=%s: could not remove %s after a failed create", name, volume)
        if not log_existed:
            with contextlib.suppress(OSError):
                serial_log.unlink()

    @staticmethod
    def _undefine(dom: Any) -> None:
        libvirt = _libvirt()
        flags = (
            libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
            | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
            | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
            | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
        )
        try:
            dom.undefineFlags(flags)
        except libvirt.libvirtError as e:
            if e.get_error_code() != libvirt.VIR_ERR_NO_SUPPORT:
                raise
            dom.undefine()

    # ----------------------------------------------------------- run

    def start(self, name: str) -> dict[str, Any]:
        def start(dom: Any) -> None:
            state = self._state(dom)
            if state in ACTIVE_STATES:
                raise VMStateError(
                    f"VM {name!r} is already {state}.", details={"name": name, "state": state}
                )
            dom.create()

        self._on_domain(name, start)
        return self.info(name)

    def _require_active(self, dom: Any, name: str, verb: str) -> str:
        state = self._state(dom)
        if state not in ACTIVE_STATES:
            raise VMStateError(
                f"Cannot {verb} VM {name!r}: it is not running ({state}). "
                f"Start it with `kernelswitch vm start {name}`.",
                details={"name": name, "state": state},
            )
        return state

    def press_power_button(self, name: str) -> None:
        """Press the guest's ACPI power button (returns at once)."""
        libvirt = _libvirt()

        def press(dom: Any) -> None:
            self._require_active(dom, name, "shut down")
            dom.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)

        self._on_domain(name, press)

    def shutdown(
        self, name: str, timeout: float = SHUTDOWN_TIMEOUT, wait: bool = True
    ) -> dict[str, Any]:
        """Press the ACPI power button; with *wait*, until it is off or *timeout* passes.

        Blocking (the CLI's way); the server awaits :meth:`ashutdown` instead.
        """
        from .waits import check_timeout

        timeout = check_timeout(timeout)
        self.press_power_button(name)
        if wait and not self._wait_state(name, ("shutoff",), timeout):
            raise self._still_running(name, timeout)
        return self.info(name)

    async def ashutdown(
        self,
        name: str,
        timeout: float = SHUTDOWN_TIMEOUT,
        wait: bool = True,
        *,
        pressed: bool = False,
    ) -> dict[str, Any]:
        """:meth:`shutdown` for the event loop: the wait holds no thread.

        *pressed* says the caller already pressed the button (under its lock).
        """
        from .waits import check_timeout, wait_state

        timeout = check_timeout(timeout)
        if not pressed:
            await self.aio(self.press_power_button, name)
        if wait and not await wait_state(self, name, ("shutoff",), timeout):
            raise self._still_running(name, timeout)
        return await self.aio(self.info, name)

    @staticmethod
    def _still_running(name: str, timeout: float) -> ShutdownTimeout:
        return ShutdownTimeout(
            f"VM {name!r} is still running {timeout:g} s after the ACPI power "
            "button was pressed: the guest ignored it (no ACPI support, or it is "
            f"busy). Force it off with `kernelswitch vm destroy {name}`.",
            details={"name": name, "timeout": timeout},
        )

    def _wait_state(self, name: str, states: tuple[str, ...], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            state = self.state(name)
            if state in states:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_INTERVAL)

    def destroy(self, name: str) -> dict[str, Any]:
        """Pull the plug (the guest gets no chance to shut down)."""

        def destroy(dom: Any) -> None:
            self._require_active(dom, name, "destroy")
            dom.destroy()

        self._on_domain(name, destroy)
        return self.info(name)

    def reboot(self, name: str) -> dict[str, Any]:
        """Ask the guest to reboot (ACPI); libvirt restarts it when it powers down."""

        def reboot(dom: Any) -> None:
            self._require_active(dom, name, "reboot")
            dom.reboot(0)

        self._on_domain(name, reboot)
        return self.info(name)

    def suspend(self, name: str) -> dict[str, Any]:
        """Pause the guest's CPUs (it keeps its memory)."""

        def suspend(dom: Any) -> None:
            state = self._require_active(dom, name, "suspend")
            if state == "paused":
                raise VMStateError(f"VM {name!r} is already paused.", details={"name": name})
            dom.suspend()

        self._on_domain(name, suspend)
        return self.info(name)

    def resume(self, name: str) -> dict[str, Any]:
        def resume(dom: Any) -> None:
            if self._state(dom) != "paused":
                raise VMStateError(
                    f"VM {name!r} is not paused ({self._state(dom)}); nothing to resume.",
                    details={"name": name},
                )
            dom.resume()

        self._on_domain(name, resume)
        return self.info(name)

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
            self._undefine(dom)
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
