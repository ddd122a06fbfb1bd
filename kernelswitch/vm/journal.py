"""What a create, clone or add-disk is about to make, written down first.

Public API (stable):

- :func:`journal_for` ``(connection) -> Journal`` — one per libvirt URI;
  registers :meth:`Journal.replay` to run after every (re)connect.
- :meth:`Journal.begin` ``(op, vm) -> Operation``.
- :class:`Operation`: ``will_make(kind, ref, **extra)`` *before* the call that
  makes it, ``made(ref)`` once that call returned, ``commit()`` on success,
  ``undo() -> Outcome`` on failure.
- :class:`Outcome`: ``pending`` (what could not be removed yet), ``note`` (a
  sentence for the user: "Nothing was left behind." or what will be removed
  once libvirtd is back), ``annotate(err)`` adds both to an error.

Kinds: ``domain`` (ref: UUID we chose), ``volume`` (ref: path), ``attached``
(ref: volume path attached to the domain of UUID ``extra['uuid']``),
``file`` (ref: path of a file only we made, e.g. a serial log).

Why a file per operation (JSON under ``cache_dir()/journal``): libvirtd can
die between any two calls, and then nothing can be removed until it is back
— possibly after this server stopped. Each record is written before the
thing exists, so a half-finished call (the daemon died while defining) is
covered too; undoing something that never came to be is a no-op. A record
is removed only when everything in it is gone. Records of a live process
other than ours are never touched (another server may be mid-create).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import threading
import time
import uuid as _uuid
from pathlib import Path
from typing import Any

from .._paths import cache_dir
from .connection import Connection, is_connection_error, libvirt_module

__all__ = ["Journal", "Operation", "Outcome", "journal_dir", "journal_for"]

log = logging.getLogger(__name__)

_JOURNALS: dict[str, Journal] = {}
_JOURNALS_LOCK = threading.Lock()


def journal_dir() -> Path:
    return cache_dir() / "journal"


def journal_for(connection: Connection) -> Journal:
    """The journal of *connection*'s URI (replayed after every reconnect)."""
    with _JOURNALS_LOCK:
        j = _JOURNALS.get(connection.uri)
        if j is None or j.connection is not connection:
            j = _JOURNALS[connection.uri] = Journal(connection)
            connection.add_open_hook(j.replay)
            if connection.is_open:  # opened before we were here: replay now
                threading.Thread(target=j.replay, name="kernelswitch-journal", daemon=True).start()
        return j


@dataclasses.dataclass
class Outcome:
    """What an undo removed and what it had to leave for later."""

    removed: list[str]
    pending: list[str]

    @property
    def note(self) -> str:
        if not self.pending:
            return "Nothing was left behind."
        return (
            "Cleanup pending: " + ", ".join(self.pending) + " will be removed when libvirtd "
            "is back (kernelswitch retries on reconnect)."
        )

    def annotate(self, err: BaseException) -> None:
        """Append the note to a KernelSwitchError's message and details."""
        from ..errors import KernelSwitchError

        if not isinstance(err, KernelSwitchError):
            return
        err.message = f"{err.message.rstrip()} {self.note}"
        err.args = (err.message,)
        err.details = {
            **err.details,
            "cleanup": "pending" if self.pending else "done",
            "left_behind": list(self.pending),
        }


class Journal:
    """Pending operations of one libvirt URI, one JSON file each."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._active: set[str] = set()  # ids of our operations still running
        self._replaying = threading.Lock()

    def begin(self, op: str, vm: str) -> Operation:
        oid = f"{time.strftime('%Y%m%d-%H%M%S')}-{_uuid.uuid4().hex[:8]}"
        self._active.add(oid)
        o = Operation(self, oid, journal_dir() / f"{oid}.json", op, vm)
        return o

    # ------------------------------------------------------------ replay

    def replay(self) -> None:
        """Remove what earlier failed operations left (runs after each reconnect)."""
        directory = journal_dir()
        if not directory.is_dir():
            return
        with self._replaying:
            for path in sorted(directory.glob("*.json")):
                try:
                    record = json.loads(path.read_text())
                except (OSError, ValueError):
                    continue
                if record.get("uri") != self.connection.uri:
                    continue
                pid = int(record.get("pid") or 0)
                if pid == os.getpid() and record.get("id") in self._active:
                    continue  # still running here
                if pid != os.getpid() and _alive(pid):
                    continue  # another live server's operation
                try:
                    o = Operation(self, record["id"], path, record["op"], record["vm"])
                    o.items = list(record["items"])
                    outcome = o.undo()
                except (KeyError, TypeError) as e:  # not a record of ours: leave it
                    log.warning("kernelswitch: unreadable journal record %s: %s", path, e)
                    continue
                if outcome.removed or not outcome.pending:
                    log.warning(
                        "kernelswitch: removed what a failed %s of %s left: %s (still pending: %s)",
                        o.op, o.vm, ", ".join(outcome.removed) or "nothing", outcome.pending,
                    )  # fmt: skip


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Operation:
    """One create/clone/add-disk: what it will make, written before it is made."""

    def __init__(self, journal: Journal, oid: str, path: Path, op: str, vm: str) -> None:
        self.journal = journal
        self.id = oid
        self.path = path
        self.op = op
        self.vm = vm
        self.items: list[dict[str, Any]] = []

    def _save(self) -> None:
        record = {
            "id": self.id, "uri": self.journal.connection.uri, "op": self.op, "vm": self.vm,
            "pid": os.getpid(), "items": self.items,
        }  # fmt: skip
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(record))
            os.replace(tmp, self.path)
        except OSError as e:  # the undo in this process still knows; only a restart loses it
            log.warning("kernelswitch: cannot write the journal %s: %s", self.path, e)

    def will_make(self, kind: str, ref: str, *, made: bool = False, **extra: Any) -> None:
        """Write down *ref* before making it; *made*: it is part of the result already."""
        self.items.append({"kind": kind, "ref": ref, "made": made, **extra})
        self._save()

    def made(self, ref: str) -> None:
        for item in self.items:
            if item["ref"] == ref:
                item["made"] = True
        self._save()

    def commit(self) -> None:
        """It worked: forget the record, after removing what is not part of the result.

        A call interrupted by a dying daemon is retried once reconnected
        (:meth:`.Connection.call`); a volume the first try made under another
        name was written down but never confirmed: it goes now.
        """
        stray = [i for i in self.items if not i["made"]]
        if stray:
            self.items = stray
            outcome = self.undo()
            if outcome.removed or outcome.pending:
                log.warning(
                    "kernelswitch: %s of %s: removed strays %s (pending: %s)",
                    self.op, self.vm, outcome.removed, outcome.pending,
                )  # fmt: skip
            return
        self.journal._active.discard(self.id)
        with contextlib.suppress(OSError):
            self.path.unlink()

    def undo(self) -> Outcome:
        """Remove what was made, newest first; keep the record for what could not be."""
        removed: list[str] = []
        pending: list[dict[str, Any]] = []
        # a volume is removed only after the domain that used it is gone
        gone_domain = True
        for item in reversed(self.items):
            if item.get("keep"):
                continue
            try:
                done = self._undo_item(item, gone_domain)
            except Exception as e:
                if not _is_down(e):
                    log.warning("cannot remove %s %s: %s", item["kind"], item["ref"], e)
                done = None
            if done is None:
                pending.append(item)
                if item["kind"] in ("domain", "attached"):
                    gone_domain = False
            elif done:
                removed.append(_describe(item))
            elif item["kind"] == "domain" and item.get("made"):
                # defined, then deleted by another request: its disks are that
                # request's to report (it may have kept them on purpose)
                for other in self.items:
                    if other["kind"] == "volume":
                        other["keep"] = True
        self.journal._active.discard(self.id)
        if pending:
            self.items = list(reversed(pending))
            self._save()
        else:
            with contextlib.suppress(OSError):
                self.path.unlink()
        return Outcome(removed, [_describe(i) for i in reversed(pending)])

    def _undo_item(self, item: dict[str, Any], domain_gone: bool) -> bool | None:
        """True: removed; False: nothing to remove; None: not now (retry later)."""
        kind, ref = item["kind"], item["ref"]
        if kind == "file":
            try:
                Path(ref).unlink()
                return True
            except FileNotFoundError:
                return False
        if not domain_gone:
            return None
        c = self.journal.connection.conn()  # no waiting: a daemon away means "later"
        if kind == "domain":
            return _undefine(c, ref)
        if kind == "attached":
            return _detach(c, item["uuid"], ref)
        if kind == "volume":
            return _delete_volume(c, ref)
        raise ValueError(f"unknown journal item kind {kind!r}")


def _describe(item: dict[str, Any]) -> str:
    kind, ref = item["kind"], item["ref"]
    if kind == "domain":
        return f"the definition of VM {item.get('name', ref)!r}"
    if kind == "attached":
        return f"the disk {ref} attached to VM {item.get('name', item['uuid'])!r}"
    if kind == "volume":
        return f"the disk {ref}"
    return f"the file {ref}"


def _is_down(e: BaseException) -> bool:
    from .errors import HostError

    return isinstance(e, HostError) or is_connection_error(e)


def _undefine(c: Any, uuid: str) -> bool:
    from .create import undefine_domain

    libvirt = libvirt_module()
    try:
        dom = c.lookupByUUIDString(uuid)
    except libvirt.libvirtError as e:
        if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return False
        raise
    if dom.isActive():
        with contextlib.suppress(libvirt.libvirtError):
            dom.destroy()
    undefine_domain(dom)
    return True


def _detach(c: Any, uuid: str, path: str) -> bool:
    import xml.etree.ElementTree as ET

    from ._xml import disk_source, to_string

    libvirt = libvirt_module()
    try:
        dom = c.lookupByUUIDString(uuid)
    except libvirt.libvirtError as e:
        if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return False
        raise
    done = False
    for flags in (libvirt.VIR_DOMAIN_XML_INACTIVE, 0):
        if flags == 0 and not dom.isActive():
            continue
        for disk in ET.fromstring(dom.XMLDesc(flags)).findall("./devices/disk"):
            if disk_source(disk) == path:
                live, config = libvirt.VIR_DOMAIN_AFFECT_LIVE, libvirt.VIR_DOMAIN_AFFECT_CONFIG
                dom.detachDeviceFlags(to_string(disk), config if flags else live)
                done = True
    return done


def _delete_volume(c: Any, path: str) -> bool:
    """Delete the volume (or plain file) at *path* unless some domain uses it."""
    import xml.etree.ElementTree as ET

    from ._xml import disk_source

    libvirt = libvirt_module()
    for dom in c.listAllDomains(0):
        with contextlib.suppress(libvirt.libvirtError):
            for flags in (0, libvirt.VIR_DOMAIN_XML_INACTIVE):
                for disk in ET.fromstring(dom.XMLDesc(flags)).findall("./devices/disk"):
                    if disk_source(disk) == path:
                        log.warning("kernelswitch: keeping %s: VM %s uses it", path, dom.name())
                        return False
    vol = None
    with contextlib.suppress(libvirt.libvirtError):
        vol = c.storageVolLookupByPath(path)
    if vol is None:
        for pool in c.listAllStoragePools(0):  # made while the daemon died: not listed yet
            with contextlib.suppress(libvirt.libvirtError):
                if pool.isActive():
                    pool.refresh(0)
        with contextlib.suppress(libvirt.libvirtError):
            vol = c.storageVolLookupByPath(path)
    if vol is not None:
        vol.delete(0)
        return True
    if os.path.isfile(path):
        os.remove(path)
        return True
    return False
