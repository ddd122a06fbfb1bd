"""What the user asked for, validated before anything exists.

Public API (stable):

- :class:`VMSpec` — name, iso, os (short id), memory/disk in bytes, cpus, start.
- :func:`parse_size` ``('512M' | '2G' | '2048' | 2048, default_unit='M') -> int``
  bytes. Units are binary (``K``/``KB``/``KiB`` all mean 1024), as in libvirt
  and QEMU; a bare number takes *default_unit* (MiB for memory, GiB for disks,
  like virt-install).
- :func:`check_name`, :func:`check_iso` — one check each; every failure is an
  :class:`InvalidVMSpec` whose message says what was wrong and how to fix it.
- :func:`resolve_spec` — validates everything in order (cheap checks first:
  name, ISO, size syntax; then the OS; then minimums and host limits) and
  fills unset sizes from osinfo's recommendations capped by the host. Blocking
  when it has to identify the ISO: call it off the event loop.

Nothing here creates, changes or deletes a file.
"""

from __future__ import annotations

import dataclasses
import errno
import math
import os
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

from .._common import GiB, KiB, MiB, TiB, human_size
from .._safe_read import UnsafeFile, open_regular
from .errors import InvalidVMSpec
from .host import (
    HostLimits,
    HypervisorUser,
    host_limits,
    hypervisor_user,
    may_access,
    unsearchable_dirs,
)
from .osinfo import OSInfo, get_os, identify_or_raise

__all__ = [
    "MAX_NAME_LENGTH",
    "VMSpec",
    "check_iso",
    "check_name",
    "human_size",
    "parse_size",
    "resolve_spec",
]

MAX_NAME_LENGTH = 64
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
ISO_MAGIC_OFFSET = 0x8001
ISO_MAGIC = b"CD001"

_UNITS = {
    "": 1, "B": 1,
    "K": KiB, "KB": KiB, "KIB": KiB,
    "M": MiB, "MB": MiB, "MIB": MiB,
    "G": GiB, "GB": GiB, "GIB": GiB,
    "T": TiB, "TB": TiB, "TIB": TiB,
}  # fmt: skip
_SIZE_RE = re.compile(r"\s*([+-]?\d+(?:\.\d*)?|[+-]?\.\d+)\s*([A-Za-z]*)\s*")

#: Fallbacks when osinfo has no recommendation, and the floor of memory
#: defaults (below this few installers start).
DEFAULT_MEMORY = 1 * GiB
DEFAULT_DISK = 10 * GiB
#: Share of available host memory a default may take (explicit sizes may use all).
DEFAULT_MEMORY_SHARE = 0.5


@dataclasses.dataclass(frozen=True)
class VMSpec:
    """A validated create request (sizes in bytes)."""

    name: str
    iso: str  # absolute path
    os: str  # osinfo short id ('generic' when unknown)
    memory: int
    cpus: int
    disk: int
    start: bool = True

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)




# ---------------------------------------------------------------------- sizes


def parse_size(value: str | int | float, default_unit: str = "M", *, what: str = "size") -> int:
    """Bytes for ``'512M'``, ``'2G'``, ``'1.5GiB'``, ``'2048'`` (x *default_unit*)."""
    if isinstance(value, bool):
        raise InvalidVMSpec(f"{what} must be a size like 512M or 2G, not {value!r}.")
    if isinstance(value, int | float):
        number = float(value)
        unit = default_unit.upper()
    else:
        m = _SIZE_RE.fullmatch(str(value))
        if not m:
            msg = (
                f"{what} {str(value)!r} is not a size. Write a number with an optional unit, "
                "like 512M, 2G or 20G."
            )
            raise InvalidVMSpec(msg, details={"value": str(value)})
        number = float(m.group(1))
        unit = (m.group(2) or default_unit).upper()
    if unit not in _UNITS:
        msg = (
            f"{what} {str(value)!r} has an unknown unit {unit!r}. "
            "Use B, K, M, G or T (binary: 1G = 1024M), e.g. 2G."
        )
        raise InvalidVMSpec(msg, details={"value": str(value)})
    if not math.isfinite(number) or number <= 0:
        msg = f"{what} must be greater than zero (got {str(value)!r}); e.g. 2G."
        raise InvalidVMSpec(msg, details={"value": str(value)})
    size = int(number * _UNITS[unit])
    if size <= 0:
        raise InvalidVMSpec(f"{what} {str(value)!r} rounds to zero bytes; e.g. 2G.")
    return size


def _parse_cpus(value: str | int) -> int:
    try:
        n = int(str(value).strip())
    except ValueError:
        n = 0
        ok = False
    else:
        ok = n > 0
    if not ok:
        msg = f"cpus must be a whole number of at least 1 (got {str(value)!r}); e.g. --cpus 2."
        raise InvalidVMSpec(msg, details={"value": str(value)})
    return n


# ----------------------------------------------------------------------- name


def check_name(name: str, existing: Collection[str] = ()) -> str:
    """The name, if it is a valid, unused domain name."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidVMSpec("The VM needs a name, e.g. fedora-test.")
    if len(name) > MAX_NAME_LENGTH:
        msg = (
            f"The VM name is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}. "
            "Choose a shorter name."
        )
        raise InvalidVMSpec(msg, details={"name": name[:80]})
    if not NAME_RE.fullmatch(name):
        bad = sorted({c for c in name if not (c.isascii() and (c.isalnum() or c in "._-"))})
        if bad:
            shown = " ".join(repr(c) for c in bad)
            msg = (
                f"The VM name {name!r} contains {shown}. Use only letters, digits, "
                "'.', '_' and '-', starting with a letter or digit (e.g. fedora-37)."
            )
        else:
            msg = (
                f"The VM name {name!r} must start with a letter or digit "
                f"(e.g. {'vm-' + name.lstrip('._-')!r})."
            )
        raise InvalidVMSpec(msg, details={"name": name})
    if name in existing:
        msg = (
            f"A VM named {name!r} already exists. Choose another name, or delete the "
            f"existing one first (`kernelswitch vm delete {name}`)."
        )
        raise InvalidVMSpec(msg, details={"name": name})
    return name


# ------------------------------------------------------------------------ ISO


def check_iso(
    iso: str | os.PathLike[str], user: HypervisorUser | None = None, *, uri: str | None = None
) -> Path:
    """The ISO's real path, if it is an ISO 9660 image QEMU can read.

    Symlinks are resolved first, so what is checked is the file QEMU will
    open, and that real path is what goes into the domain XML: a link
    re-pointed later (at a root-only file, say) changes nothing. Cdrom sources
    get ``relabel='no'`` (see :func:`.domain.devices.no_relabel`), so libvirt's
    dynamic ownership no longer makes an unreadable ISO readable: the
    hypervisor user must be able to read it as it is.
    """
    if not str(iso).strip():
        raise InvalidVMSpec("No ISO given. Pass the installer image with --iso PATH.")
    given = os.path.abspath(os.path.expanduser(str(iso)))
    path = Path(os.path.realpath(given))
    shown = repr(str(path)) if given == str(path) else f"{given!r} (a link to {str(path)!r})"
    details = {"iso": str(path)}
    if not path.exists():
        msg = f"The ISO {shown} does not exist. Check the path (it is on the server host)."
        raise InvalidVMSpec(msg, details=details)
    if path.is_dir():
        msg = f"{shown} is a directory, not an ISO file. Give the path of the .iso inside it."
        raise InvalidVMSpec(msg, details=details)
    try:
        fd = open_regular(path, what="ISO")
    except UnsafeFile as e:
        if e.errno == errno.EINVAL:
            msg = f"{shown} is not a regular file. Give the path of an .iso image."
        elif e.errno == errno.EACCES:
            msg = (
                f"Cannot read the ISO {shown}: permission denied. Make it readable to "
                "this server's user, or copy it somewhere readable."
            )
        else:
            msg = f"Cannot read the ISO {shown}: {e.strerror}."
        raise InvalidVMSpec(msg, details=details) from e
    try:
        magic = os.pread(fd, len(ISO_MAGIC), ISO_MAGIC_OFFSET)
    except OSError as e:
        raise InvalidVMSpec(f"Cannot read the ISO {shown}: {e.strerror}.", details=details) from e
    finally:
        os.close(fd)
    if magic != ISO_MAGIC:
        msg = (
            f"{shown} is not an ISO 9660 image (no 'CD001' signature at offset 0x8001). "
            "Download the installer .iso again, or check you picked the right file."
        )
        raise InvalidVMSpec(msg, details=details)

    user = user or hypervisor_user(uri or "qemu:///session")
    dirs = unsearchable_dirs(path.parent, user)
    blocked = [f"{d} (mode {mode:04o})" for d, mode in dirs]
    unreadable = not may_access(path, user, 4)
    if blocked or unreadable:
        parts = []
        if blocked:
            parts.append("it cannot enter " + ", ".join(blocked))
        if unreadable:
            parts.append("it cannot read the file")
        grants = [f"setfacl -m u:{user.name}:x {d}" for d, _mode in dirs]
        if unreadable:
            grants.append(f"setfacl -m u:{user.name}:r {path}")
        msg = (
            f"The hypervisor runs as user {user.name!r} and cannot open the ISO "
            f"{shown}: {'; '.join(parts)}. Fix: move the ISO to a directory it can "
            f"reach (e.g. /var/lib/libvirt/images) and make it readable to it, or grant "
            f"access yourself: {' && '.join(grants)}. kernelswitch never changes "
            "permissions for you, and tells libvirt not to chown your ISO either."
        )
        raise InvalidVMSpec(msg, details={"iso": str(path), "user": user.name, "blocked": blocked})
    return path


# ---------------------------------------------------------------- resolution


def _os_label(os_info: OSInfo) -> str:
    return f"{os_info.name} ({os_info.short_id})"


def resolve_spec(
    name: str,
    iso: str | os.PathLike[str],
    os: str | OSInfo | None = None,  # named like the REST key; shadows the module here
    memory: str | int | None = None,
    cpus: str | int | None = None,
    disk: str | int | None = None,
    start: bool = True,
    *,
    existing_names: Collection[str] = (),
    limits: HostLimits | None = None,
    user: HypervisorUser | None = None,
    uri: str = "qemu:///session",
    identify_timeout: float = 10.0,
) -> tuple[VMSpec, OSInfo]:
    """Validate a create request and fill in defaults. Returns the spec and its OS.

    *os* may be a short id, an :class:`OSInfo`, or None to identify the ISO
    (raising :class:`~.errors.OSNotIdentified` with the OS list when unknown).
    *limits* defaults to the host's (available memory, CPUs; disk unknown):
    pass ``host_limits(pool_dir)`` to check free disk space too, or smaller
    limits to cap defaults (tests do).
    """
    check_name(name, existing_names)
    iso_path = check_iso(iso, user, uri=uri)
    mem_req = parse_size(memory, "M", what="memory") if memory is not None else None
    disk_req = parse_size(disk, "G", what="disk") if disk is not None else None
    cpus_req = _parse_cpus(cpus) if cpus is not None else None

    if isinstance(os, OSInfo):
        os_info = os
    elif os:
        os_info = get_os(os)
    else:
        os_info = identify_or_raise(iso_path, identify_timeout)
    limits = limits or host_limits()
    label = _os_label(os_info)

    # memory
    min_mem = os_info.minimum_memory or 0
    if mem_req is None:
        rec = os_info.recommended_memory or max(min_mem, DEFAULT_MEMORY)
        cap = int(limits.memory * DEFAULT_MEMORY_SHARE)
        mem = max(min(rec, cap), min_mem)
    else:
        mem = mem_req
    if mem < min_mem:
        msg = (
            f"{label} needs at least {human_size(min_mem)} of memory; "
            f"{human_size(mem)} was asked. Use --memory {human_size(min_mem)} or more."
        )
        raise InvalidVMSpec(msg, details={"memory": mem, "minimum": min_mem})
    if mem > limits.memory:
        msg = (
            f"{human_size(mem)} of memory is more than the host has available "
            f"({human_size(limits.memory)}). Use a smaller --memory or free memory "
            "(stop other VMs)."
        )
        raise InvalidVMSpec(msg, details={"memory": mem, "available": limits.memory})

    # cpus
    min_cpus = os_info.minimum_cpus or 1
    if cpus_req is None:
        n_cpus = max(min(os_info.recommended_cpus or 1, limits.cpus), min_cpus)
    else:
        n_cpus = cpus_req
    if n_cpus < min_cpus:
        msg = f"{label} needs at least {min_cpus} CPUs; use --cpus {min_cpus}."
        raise InvalidVMSpec(msg, details={"cpus": n_cpus, "minimum": min_cpus})
    if n_cpus > limits.cpus:
        msg = (
            f"{n_cpus} vCPUs is more than the host's {limits.cpus} CPUs. "
            f"Use --cpus {limits.cpus} or fewer."
        )
        raise InvalidVMSpec(msg, details={"cpus": n_cpus, "host_cpus": limits.cpus})

    # disk (qcow2 grows on demand, but a full pool pauses the guest: check the size)
    min_disk = os_info.minimum_storage or 0
    if disk_req is None:
        rec_disk = os_info.recommended_storage or max(min_disk, DEFAULT_DISK)
        size = rec_disk if limits.disk is None else max(min(rec_disk, limits.disk), min_disk)
    else:
        size = disk_req
    if size < min_disk:
        msg = (
            f"{label} needs a disk of at least {human_size(min_disk)}; "
            f"{human_size(size)} was asked. Use --disk {human_size(min_disk)} or more."
        )
        raise InvalidVMSpec(msg, details={"disk": size, "minimum": min_disk})
    if limits.disk is not None and size > limits.disk:
        msg = (
            f"A {human_size(size)} disk is more than the free space: {human_size(limits.disk)} "
            f"free in {limits.disk_where or 'the storage pool'}. "
            "Use a smaller --disk or free space."
        )
        raise InvalidVMSpec(msg, details={"disk": size, "free": limits.disk})

    spec = VMSpec(
        name=name,
        iso=str(iso_path),
        os=os_info.short_id,
        memory=mem,
        cpus=n_cpus,
        disk=size,
        start=bool(start),
    )
    return spec, os_info
