"""``VMManager``'s create: validate, identify, make the disk, define, start.

Public API (stable), as methods of :class:`~.manager.VMManager`:
``create(name, iso, os=None, memory=None, cpus=None, disk=None, start=True,
*, limits=None, progress=None)`` and ``create_spec(spec, os_info, *, progress=None)``;
``undefine_domain(dom)`` removes a definition with everything libvirt keeps beside it.

Nothing exists before validation passes; a failure after that removes exactly
what the call made (volume, definition, serial log), never anything else.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._echo import short as _short
from ._domains import log_dir, translate
from .connection import Connection
from .connection import libvirt_module as _libvirt
from .errors import InvalidVMSpec, VMExists
from .storage import Storage

log = logging.getLogger("kernelswitch.vm.manager")


class CreateMixin:
    """Create verbs of :class:`~.manager.VMManager` (which supplies the rest)."""

    uri: str
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
                raise translate(e, spec.name) from e
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
                undefine_domain(dom)
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
