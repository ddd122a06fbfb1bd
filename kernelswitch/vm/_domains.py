"""What every VM module shares: state names, paths, libvirt's errors as ours,
and the bounded way the server runs a blocking libvirt call.

Public API (stable, re-exported by :mod:`.manager`): ``STATES``,
``ACTIVE_STATES``, ``CALL_DEADLINE``, ``preview_dir()``, ``forget_preview(uuid)``,
``watch_undefines(connection)``, ``log_dir()``,
``translate(e, name)`` (the one place libvirt errors become the :mod:`.errors`
tree), ``await run_blocking(fn, *args)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .._executors import run_in
from .._paths import cache_dir
from .connection import Connection, VMEvent, is_connection_error
from .connection import libvirt_module as _libvirt
from .errors import HostError, PoolFull, VMBusy, VMError, VMExists, VMNotFound, VMStateError
from .storage import default_pool_dir, is_no_space, is_write_error, pool_full

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
#: Seconds a blocking libvirt call may take in the server before the request
#: answers 503 (the thread is left to finish; the pool is bounded).
CALL_DEADLINE = 120.0
#: Free bytes below which an I/O error writing into the pool means it is full.
LOW_SPACE = 256 * 1024**2


def preview_dir() -> Path:
    """Where console screenshots used as VM previews are kept."""
    return cache_dir() / "previews"


_UUID = re.compile(r"[0-9a-fA-F]{8}(?:-?[0-9a-fA-F]{4}){3}-?[0-9a-fA-F]{12}")


def forget_preview(uuid: str | None) -> None:
    """Remove the preview of a VM that no longer exists (kept by UUID, not name)."""
    if uuid and _UUID.fullmatch(uuid):
        with contextlib.suppress(OSError):
            (preview_dir() / f"{uuid}.png").unlink()


_WATCHED: weakref.WeakSet[Connection] = weakref.WeakSet()
_WATCHED_LOCK = threading.Lock()


def _on_event(event: VMEvent) -> None:
    if event.kind == "lifecycle" and event.event == "undefined":
        forget_preview(event.uuid)


def watch_undefines(connection: Connection) -> None:
    """Once per connection: drop a VM's preview when it is undefined by anyone
    (virsh, another server), not only by our own delete. The listener takes
    no lock and only unlinks a file, so it is safe on the event thread."""
    with _WATCHED_LOCK:
        if connection in _WATCHED:
            return
        _WATCHED.add(connection)
    connection.add_listener(_on_event)


def log_dir() -> Path:
    """Serial logs of the guests (``<serial type='file'>``)."""
    return default_pool_dir().parent / "logs"


def translate(e: Exception, name: str | None = None, storage: Any = None) -> Exception:
    """A libvirt error as one of ours (other exceptions pass through).

    A full disk becomes :class:`~.errors.PoolFull` (507) with the free space
    *storage* (a :class:`~.storage.Storage`) reports, wherever it surfaced.
    """
    libvirt = _libvirt()
    if is_no_space(e) and not isinstance(e, PoolFull):
        return pool_full(e, name, storage)
    if storage is not None and is_write_error(e) and (storage.available() or 0) < LOW_SPACE:
        # QEMU reports a full disk under a snapshot as a plain I/O error
        # ("Error while writing VM state: Input/output error", seen on a full
        # tmpfs pool): with the pool nearly full, that is what it was.
        return pool_full(e, name, storage)
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
            "the ISO and the disks must be searchable by it, and the ISO readable by it "
            "(libvirt is told not to chown ISOs, which are your files). Move the files "
            "somewhere it can reach, or grant it access (setfacl -m u:libvirt-qemu:r FILE); "
            "kernelswitch does not change permissions for you.",
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
