"""Facts about the host that VM creation depends on.

Public API (stable):

- :func:`detect_accel` ``() -> AccelReport`` — which accelerator really works
  (``'kvm'`` or ``'tcg'``), with the reason. ``AccelReport.domain_type`` is the
  ``<domain type=...>`` value (``'kvm'`` / ``'qemu'``).
- :func:`memory_info` / :func:`cpu_count` / :func:`free_disk` — host limits.
- :func:`domain_caps` ``(conn, accel) -> HostCaps`` — machine types, OVMF
  loader paths, max vCPUs, from libvirt's ``getDomainCapabilities``.
- :func:`host_limits` — the numbers :mod:`.spec` checks sizes against.

The accelerator is chosen by :mod:`.accel`; who the hypervisor runs as and what
it may open, by :mod:`.access`. Both are re-exported here.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from .accel import AccelReport, detect_accel, normalize_accel, probe_kvm, run_probe
from .access import (
    HypervisorUser,
    dev_kvm_problem,
    hypervisor_user,
    may_access,
    unsearchable_dirs,
)
from .errors import HostError

__all__ = [
    "AccelReport",
    "HostCaps",
    "HostLimits",
    "HypervisorUser",
    "cpu_count",
    "detect_accel",
    "dev_kvm_problem",
    "domain_caps",
    "free_disk",
    "host_limits",
    "hypervisor_user",
    "may_access",
    "memory_info",
    "probe_kvm",
    "run_probe",
    "unsearchable_dirs",
]

# ---------------------------------------------------------------- resources


def memory_info() -> dict[str, int]:
    """``total`` and ``available`` host memory in bytes (from /proc/meminfo)."""
    values: dict[str, int] = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts:
                values[key] = int(parts[0]) * 1024
    except OSError as e:
        raise HostError(f"Cannot read /proc/meminfo: {e}") from e
    total = values.get("MemTotal", 0)
    avail = values.get("MemAvailable", values.get("MemFree", 0))
    return {"total": total, "available": avail}


def cpu_count() -> int:
    """CPUs this process may run on (what QEMU threads can actually use)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def free_disk(path: str | os.PathLike[str]) -> int:
    """Free bytes on the filesystem holding *path* (or its nearest existing parent)."""
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free


@dataclasses.dataclass(frozen=True)
class HostLimits:
    """What one VM may use at most."""

    memory: int  # bytes: available host memory now
    cpus: int
    disk: int | None  # bytes free where the disk goes; None when unknown
    #: where *disk* is free, as said to users: "pool kernelswitch (/var/lib/...)"
    disk_where: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def host_limits(
    disk_dir: str | os.PathLike[str] | None = None,
    *,
    pool: dict[str, Any] | None = None,
) -> HostLimits:
    """Limits now; the disk space is *pool*'s (``Storage.free()``, what VMs get
    and what every view shows) or else the free space of *disk_dir*."""
    mem = memory_info()
    if pool is not None:
        disk, where = pool["available"], pool["where"]
    elif disk_dir is not None:
        disk, where = free_disk(disk_dir), f"{disk_dir}"
    else:
        disk, where = None, None
    return HostLimits(memory=mem["available"], cpus=cpu_count(), disk=disk, disk_where=where)


# ---------------------------------------------------------- libvirt domcaps


@dataclasses.dataclass(frozen=True)
class HostCaps:
    """What libvirt says the hypervisor can do for one accelerator."""

    domain_type: str  # 'kvm' | 'qemu'
    emulator: str | None = None
    machine: str | None = None  # canonical q35, e.g. pc-q35-7.2
    machines: tuple[str, ...] = ()
    max_vcpus: int | None = None
    efi_supported: bool = False
    loaders: tuple[str, ...] = ()  # OVMF code images

    @property
    def ovmf_path(self) -> str | None:
        """A non-secure-boot OVMF (``*.ms.fd`` / ``*secboot*`` need enrolled keys)."""
        plain = [p for p in self.loaders if ".ms." not in p and "secboot" not in p]
        choices = plain or list(self.loaders)
        return choices[0] if choices else None

    def has_machine(self, name: str) -> bool:
        return (
            not self.machines
            or name in self.machines
            or any(m.startswith(f"pc-{name}-") for m in self.machines)
        )

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["ovmf_path"] = self.ovmf_path
        return out


def parse_domain_caps(domcaps_xml: str, machines: tuple[str, ...] = ()) -> HostCaps:
    root = ET.fromstring(domcaps_xml)
    vcpu = root.find("vcpu")
    fw = root.findall("./os/enum[@name='firmware']/value")
    loaders = tuple(v.text or "" for v in root.findall("./os/loader/value"))
    return HostCaps(
        domain_type=(root.findtext("domain") or "qemu"),
        emulator=root.findtext("path"),
        machine=root.findtext("machine"),
        machines=machines,
        max_vcpus=int(vcpu.get("max", "0")) or None if vcpu is not None else None,
        efi_supported=any(v.text == "efi" for v in fw) or bool(loaders),
        loaders=loaders,
    )


def domain_caps(conn: Any, accel: str | AccelReport | None = None) -> HostCaps:
    """Domain capabilities for x86_64/q35 under *accel* from an open libvirt connection."""
    if accel is None:
        accel = detect_accel()
    dtype = (
        accel.domain_type
        if isinstance(accel, AccelReport)
        else ("kvm" if normalize_accel(accel) == "kvm" else "qemu")
    )
    try:
        xml = conn.getDomainCapabilities(None, "x86_64", "q35", dtype, 0)
        caps = ET.fromstring(conn.getCapabilities())
    except Exception as e:  # libvirt.libvirtError; libvirt imported lazily by callers
        msg = f"libvirt could not report the hypervisor's capabilities: {e}. Is libvirtd running?"
        raise HostError(msg) from e
    machines: list[str] = []
    for arch in caps.findall("./guest/arch[@name='x86_64']"):
        for m in arch.findall("machine"):
            if m.text and m.text not in machines:
                machines.append(m.text)
    return parse_domain_caps(xml, tuple(sorted(machines)))


def report(conn: Any | None = None) -> dict[str, Any]:
    """Everything above as JSON, for ``kernelswitch doctor``."""
    acc = detect_accel()
    out: dict[str, Any] = {
        "accel": acc.to_json(),
        "memory": memory_info(),
        "cpus": cpu_count(),
        "dev_kvm_problem": dev_kvm_problem(),
    }
    if conn is not None:
        out["caps"] = domain_caps(conn, acc).to_json()
    return out
