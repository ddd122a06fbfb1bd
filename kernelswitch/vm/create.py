"""``VMManager``'s create: validate, identify, make the disk, define, start.

Public API (stable), as methods of :class:`~.manager.VMManager`:
``create(name, iso, os=None, memory=None, cpus=None, disk=None, start=True,
*, limits=None, progress=None)`` and ``create_spec(spec, os_info, *, progress=None)``;
``undefine_domain(dom)`` removes a definition with everything libvirt keeps beside it.

Nothing exists before validation passes; a failure after that removes exactly
what the call made (volume, definition, serial log), never anything else.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from .._echo import short as _short
from ._domains import log_dir, translate
from .connection import Connection
from .connection import libvirt_module as _libvirt
from .errors import InvalidVMSpec, VMExists
from .journal import journal_for
from .storage import Storage

log = logging.getLogger("kernelswitch.vm.manager")
#: Tries of the start of a new VM while libvirtd settles a guest it was starting when it died.
START_TRIES = 4


class CreateMixin:
    """Create verbs of :class:`~.manager.VMManager` (which supplies the rest)."""

    uri: str
    remote: bool
    connection: Connection
    storage: Storage
    _create_lock: threading.Lock
    _host_caps: Any
    names: Callable[[], list[str]]
    info: Callable[[str], dict[str, Any]]
    _call: Callable[..., Any]

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

        if self.remote:  # the ISO comes from the host's pools, or is uploaded there
            from .hosts.create import create_remote

            return create_remote(self, name, iso, os, memory, cpus, disk, start, progress)
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
            pool = self.storage.free()
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
                    limits=limits or host_limits(pool=pool),
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
        """Create a VM from an already validated :class:`~.spec.VMSpec`.

        Journaled (:mod:`.journal`): each thing is written down before it is
        made; on failure what was made is removed, or, if libvirtd is gone,
        removed when it is back. The error says which.
        """
        import uuid as _uuid

        from .domain import build_domain_xml

        say = progress or (lambda _msg: None)
        op = journal_for(self.connection).begin("create", spec.name)
        serial_log = log_dir() / f"{spec.name}.serial.log"
        if self.remote:  # QEMU writes it on its host: next to the disks there
            serial_log = self.storage.pool_path() / f"{spec.name}.serial.log"
        try:
            if not serial_log.exists() and not self.remote:
                op.will_make("file", str(serial_log), made=True)
            say(f"creating a {spec.disk // 1024**3 or 1} GiB disk")
            vol = self.storage.create_volume(
                spec.name, spec.disk, before=lambda path: op.will_make("volume", path)
            )
            op.made(vol.path)
            if not self.remote:
                serial_log.parent.mkdir(parents=True, exist_ok=True)
            accel = self.accel()
            uuid = str(_uuid.uuid4())
            xml = build_domain_xml(
                spec,
                os_info,
                disk_path=vol.path,
                serial_log=str(serial_log),
                uri=self.uri,
                accel=accel,
                host_caps=self._caps(accel),
                uuid=uuid,
            )
            if self.remote:
                from .hosts.create import fit_to_host

                xml = self.connection.call(lambda conn: fit_to_host(xml, conn))
            say("defining the VM")
            op.will_make("domain", uuid, name=spec.name)
            self._call(lambda conn: conn.defineXML(xml), spec.name)
            op.made(uuid)
            if spec.start:
                say("starting the VM")
                self._call(lambda conn: _start(conn.lookupByUUIDString(uuid)), spec.name)
            say("done")
            info = {**self.info(spec.name), "accel": accel.to_json()}
        except BaseException as e:
            err = translate(e, spec.name, self.storage) if isinstance(e, Exception) else e
            outcome = op.undo()
            if outcome.pending:
                log.warning("vm=%s: a failed create left %s for later", spec.name, outcome.pending)
            outcome.annotate(err)
            if err is e:
                raise
            raise err from e
        op.commit()
        return info

    def accel(self) -> Any:
        """The accelerator new domains get here: this machine's probe, or for a
        remote host what that host's libvirt offers (:func:`.accel.host_accel`)."""
        from .accel import host_accel
        from .host import detect_accel

        if not self.remote:
            return detect_accel()
        alias = getattr(self, "alias", self.uri)
        return self.connection.call(lambda conn: host_accel(conn, alias))

    def _caps(self, accel: Any) -> Any:
        from .host import domain_caps

        if self._host_caps is None:
            self._host_caps = self.connection.call(lambda conn: domain_caps(conn, accel))
        return self._host_caps


def _start(dom: Any) -> None:
    """Start our new VM; idempotent, as Connection.call repeats it after a reconnect.

    The first try may have got as far as launching QEMU before libvirtd died:
    the new daemon then finds it paused where startup stopped (seen in the
    fault tests), so it is resumed rather than left paused.
    """
    libvirt = _libvirt()
    for attempt in range(START_TRIES):
        try:
            if not dom.isActive():
                dom.create()
            elif dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED:
                dom.resume()
            return
        except libvirt.libvirtError as e:
            # "domain is not running": the new daemon was still giving up on
            # the half-started QEMU between our two calls; look again
            last = attempt == START_TRIES - 1
            if e.get_error_code() != libvirt.VIR_ERR_OPERATION_INVALID or last:
                raise
            time.sleep(0.5)


def undefine_domain(dom: Any) -> None:
    """Undefine ``dom`` with its NVRAM, snapshot metadata, managed save and checkpoints."""
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
