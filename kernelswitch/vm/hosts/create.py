"""Create a VM on a remote host: the ISO comes from its pools or is uploaded there.

Public API (stable): :func:`create_remote` ``(manager, name, iso, os, memory,
cpus, disk, start, progress) -> info``, called by ``VMManager.create`` when its
URI is remote.

What differs from a local create: *iso* is either a local file (checked and
identified here, then uploaded into the host's pool with progress) or an ISO
already in one of the host's pools (by path or volume name; then ``os`` must
be given, since libosinfo can only read files here); limits come from the
host (its free memory and CPUs); the serial log goes next to the disks in its
pool; the graphics listen on a unix socket there (domain builder).
"""

from __future__ import annotations

import dataclasses
import os as _os
import pwd
from collections.abc import Callable
from typing import Any

from ..errors import InvalidVMSpec


def _local_user() -> Any:
    """Who reads a local ISO to upload it: this process, not a hypervisor user."""
    import grp

    from ..access import HypervisorUser

    pw = pwd.getpwuid(_os.geteuid())
    groups = {pw.pw_gid, *(g.gr_gid for g in grp.getgrall() if pw.pw_name in g.gr_mem)}
    return HypervisorUser(pw.pw_name, pw.pw_uid, pw.pw_gid, tuple(sorted(groups)), False)


def remote_limits(conn: Any) -> Any:
    from ..host import HostLimits

    info = conn.getInfo()  # [model, memory MiB, cpus, ...]
    try:
        free = int(conn.getFreeMemory())
    except Exception:
        free = int(info[1]) * 1024 * 1024
    return HostLimits(memory=free, cpus=int(info[2]), disk=None)


def create_remote(
    manager: Any,
    name: str,
    iso: str,
    os: str | None = None,
    memory: str | int | None = None,
    cpus: str | int | None = None,
    disk: str | int | None = None,
    start: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    from ..errors import VMExists
    from ..spec import resolve_spec
    from .media import find_pool_iso, upload_iso

    say = progress or (lambda _msg: None)
    with manager._create_lock:
        say("checking the request")
        existing = manager.names()
        if isinstance(name, str) and name in existing:
            raise VMExists(
                f"A VM named {name!r} already exists on {manager.alias}. Choose another name.",
                details={"name": name, "uri": manager.uri},
            )
        limits = manager.connection.call(remote_limits)
        in_pool = (
            manager.connection.call(lambda conn: find_pool_iso(conn, str(iso)))
            if isinstance(iso, str) and iso and not _os.path.isfile(iso) else None
        )  # fmt: skip
        if in_pool is not None:
            if not os:
                raise InvalidVMSpec(
                    f"{iso} is on {manager.alias}, where its OS cannot be identified from "
                    "here. Say which OS it is with --os SHORT_ID (`kernelswitch vm catalog`).",
                    details={"field": "os", "iso": iso, "uri": manager.uri},
                )
            spec, os_info = resolve_spec(
                name, in_pool, os, memory, cpus, disk, start, existing_names=existing,
                limits=limits, uri=manager.uri, remote_iso=True,
            )  # fmt: skip
        else:
            spec, os_info = resolve_spec(
                name, iso, os, memory, cpus, disk, start, existing_names=existing,
                limits=limits, user=_local_user(), uri=manager.uri,
            )  # fmt: skip
            say(f"uploading the ISO to {manager.alias}")
            remote_iso = upload_iso(manager.storage, spec.iso, say)
            spec = dataclasses.replace(spec, iso=remote_iso)
        return manager.create_spec(spec, os_info, progress=say)


def fit_to_host(xml: str, conn: Any) -> str:
    """The domain XML adjusted to what the remote daemon offers.

    A non-root session daemon has no DAC security driver ("Security driver
    model 'dac' is not available" for ``<seclabel model='dac'>``, which local
    ISOs carry so their owner is left alone); ISOs on a remote host are the
    pool's own files, so there the label is dropped when DAC is absent.
    """
    import xml.etree.ElementTree as ET

    caps = ET.fromstring(conn.getCapabilities())
    models = {m.text for m in caps.findall("./host/secmodel/model")}
    if "dac" in models:
        return xml
    root = ET.fromstring(xml)
    for source in root.iter("source"):
        for label in source.findall("seclabel[@model='dac']"):
            source.remove(label)
    return ET.tostring(root, encoding="unicode")
