"""Facts about the host that VM creation depends on.

Public API (stable):

- :func:`detect_accel` ``() -> AccelReport`` — which accelerator really works
  (``'kvm'`` or ``'tcg'``), with the reason. ``AccelReport.domain_type`` is the
  ``<domain type=...>`` value (``'kvm'`` / ``'qemu'``).
- :func:`memory_info` / :func:`cpu_count` / :func:`free_disk` — host limits.
- :func:`domain_caps` ``(conn, accel) -> HostCaps`` — machine types, OVMF
  loader paths, max vCPUs, from libvirt's ``getDomainCapabilities``.
- :func:`host_limits` — the numbers :mod:`.spec` checks sizes against.

How the accelerator is chosen (first rule that decides wins):

1. ``KERNELSWITCH_ACCEL=kvm|tcg`` (``qemu`` means tcg) overrides everything.
2. No usable ``/dev/kvm`` (missing, or not openable read-write) -> TCG.
3. ``/dev/kvm`` is not hardware virtualization: the CPU has neither ``vmx``
   nor ``svm``, or the ``kvm_pvm`` module (pagetable-based VM, needs PVM-aware
   guest kernels) provides it -> TCG. This is our machines' case: ordinary
   guests hang in early boot there.
4. A probe: QEMU boots a 512-byte boot sector under ``-accel kvm`` that goes
   real mode -> protected mode -> long mode (the path every x86-64 kernel
   takes), printing a marker at each step on the serial port and exiting
   through ``isa-debug-exit``. KVM is chosen only if the probe reaches long
   mode within :data:`PROBE_TIMEOUT` (TCG does it in ~0.1 s; a broken or
   trapping nested KVM hangs or crawls). Nothing is written to disk except
   the probe image in a temporary directory.

The result is cached in memory and in ``cache_dir()/host-accel.json`` keyed
by boot id, kernel release and QEMU binary, so the probe runs once per boot.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import shutil
import stat
import subprocess
import tempfile
import threading
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from .._paths import cache_dir
from .errors import HostError

__all__ = [
    "AccelReport",
    "HostCaps",
    "HostLimits",
    "cpu_count",
    "detect_accel",
    "domain_caps",
    "free_disk",
    "host_limits",
    "may_access",
    "memory_info",
    "unsearchable_dirs",
]

ACCEL_ENV = "KERNELSWITCH_ACCEL"
ACCELS = ("kvm", "tcg")
#: Seconds the KVM probe may take to reach long mode.
PROBE_TIMEOUT = 2.0
QEMU_BINARIES = ("/usr/bin/qemu-system-x86_64", "/usr/libexec/qemu-kvm")

# The probe boot sector (source: _accel_probe.S next to this file; built with
# `as --32` + `ld -m elf_i386 -Ttext 0x7c00 --oformat binary`). Prints "RPL\n"
# on COM1 and writes 0x10 to port 0xf4 (QEMU exits with status 33).
_PROBE_B64 = (
    "+jHAjtiOwI7QvAB8uvgDsFLuDwEWyHwPIMBmg8gBDyLA6iZ8CABmuBAAjtiOwI7QZrr4A7BQ7r8AEAAAMc"
    "C5AAwAAPOrxwUAEAAAAyAAAMcFACAAAAMwAADHBQAwAACDAAAAuAAQAAAPItgPIOCDyCAPIuC5gAAAwA8y"
    "DQABAAAPMA8gwA0AAACADyLA6pR8AAAYAGa6+AOwTO6wCu5muvQAsBDu9Ov9AAAAAAAAAAD//wAAAJrPAP"
    "//AAAAks8A//8AAACarwAfAKh8"
)
PROBE_MARKER = "RPL"


def _probe_image() -> bytes:
    code = base64.b64decode(_PROBE_B64)
    return code + b"\0" * (510 - len(code)) + b"\x55\xaa"


@dataclasses.dataclass(frozen=True)
class AccelReport:
    accel: str  # 'kvm' | 'tcg'
    reason: str
    method: str  # 'override' | 'no-dev-kvm' | 'not-hardware' | 'probe' | 'cached'

    @property
    def domain_type(self) -> str:
        """libvirt's name: ``<domain type='kvm'>`` or ``<domain type='qemu'>`` (TCG)."""
        return "kvm" if self.accel == "kvm" else "qemu"

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "domain_type": self.domain_type}


_ACCEL_LOCK = threading.Lock()
_ACCEL: AccelReport | None = None


def _normalize_accel(value: str) -> str | None:
    v = value.strip().lower()
    if v in ("qemu", "tcg"):
        return "tcg"
    if v == "kvm":
        return "kvm"
    return None


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def _kvm_modules() -> set[str]:
    return {m for m in ("kvm_intel", "kvm_amd", "kvm_pvm") if Path("/sys/module", m).is_dir()}


def _qemu_binary() -> str | None:
    for b in QEMU_BINARIES:
        if os.access(b, os.X_OK):
            return b
    return shutil.which("qemu-system-x86_64")


def _cache_key(qemu: str | None) -> str:
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = "?"
    st = os.stat(qemu) if qemu else None
    return f"{boot}|{os.uname().release}|{qemu}|{st.st_mtime_ns if st else 0}"


def _static_verdict() -> AccelReport | None:
    """Rules 1-3: decisions that need no probe."""
    override = os.environ.get(ACCEL_ENV)
    if override:
        accel = _normalize_accel(override)
        if accel is None:
            msg = f"{ACCEL_ENV}={override!r} is not an accelerator; use 'kvm' or 'tcg'."
            raise HostError(msg)
        return AccelReport(accel, f"set by {ACCEL_ENV}", "override")
    if not os.path.exists("/dev/kvm"):
        return AccelReport("tcg", "/dev/kvm does not exist", "no-dev-kvm")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return AccelReport("tcg", "/dev/kvm is not accessible to this user", "no-dev-kvm")
    mods = _kvm_modules()
    flags = _cpu_flags()
    if "kvm_pvm" in mods and not mods & {"kvm_intel", "kvm_amd"}:
        return AccelReport(
            "tcg",
            "/dev/kvm is provided by kvm_pvm (needs PVM-aware guest kernels); "
            "ordinary guests hang there",
            "not-hardware",
        )
    if not flags & {"vmx", "svm"}:
        return AccelReport(
            "tcg",
            "the CPU exposes neither vmx nor svm, so /dev/kvm cannot be hardware "
            "virtualization (nested virtualization is off or broken)",
            "not-hardware",
        )
    return None


def run_probe(
    accel: str = "kvm", qemu: str | None = None, timeout: float = PROBE_TIMEOUT
) -> tuple[bool, str]:
    """Boot the probe sector under *accel* (``kvm`` or ``tcg``). Returns (works, detail)."""
    qemu = qemu or _qemu_binary()
    if not qemu:
        return False, "no qemu-system-x86_64 found"
    with tempfile.TemporaryDirectory(prefix="kernelswitch-probe-") as tmp:
        img = Path(tmp, "probe.img")
        img.write_bytes(_probe_image())
        cmd = [
            qemu, "-accel", accel, "-machine", "pc", "-m", "16", "-display", "none",
            "-nodefaults", "-no-user-config", "-serial", "stdio",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=1",
            "-drive", f"file={img},format=raw,if=ide", "-boot", "c",
        ]  # fmt: skip
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return False, f"the {accel.upper()} probe did not reach long mode within {timeout:g} s"
        except OSError as e:
            return False, f"could not run {qemu}: {e}"
    if PROBE_MARKER in proc.stdout and proc.returncode == 33:
        return True, f"the {accel.upper()} probe reached long mode"
    err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return False, f"the {accel.upper()} probe failed (exit {proc.returncode}: {err})"


def probe_kvm(qemu: str | None = None, timeout: float = PROBE_TIMEOUT) -> tuple[bool, str]:
    """Rule 4 of the module docstring: does a KVM guest reach long mode in time?"""
    return run_probe("kvm", qemu, timeout)


def detect_accel(*, refresh: bool = False) -> AccelReport:
    """The accelerator that really works here (see the module docstring)."""
    global _ACCEL
    with _ACCEL_LOCK:
        if _ACCEL is not None and not refresh:
            return _ACCEL
        report = _static_verdict()
        if report is None:
            report = _probed_verdict(refresh)
        _ACCEL = report
        return report


def _probed_verdict(refresh: bool) -> AccelReport:
    qemu = _qemu_binary()
    key = _cache_key(qemu)
    cfile = cache_dir() / "host-accel.json"
    if not refresh:
        try:
            data = json.loads(cfile.read_text())
            if data.get("key") == key and data.get("accel") in ACCELS:
                return AccelReport(data["accel"], data["reason"], "cached")
        except (OSError, ValueError):
            pass
    ok, detail = probe_kvm(qemu)
    report = AccelReport("kvm" if ok else "tcg", detail, "probe")
    try:
        cfile.parent.mkdir(parents=True, exist_ok=True)
        cfile.write_text(json.dumps({"key": key, "accel": report.accel, "reason": detail}))
    except OSError:
        pass  # the cache is an optimisation only
    return report


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

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def host_limits(disk_dir: str | os.PathLike[str] | None = None) -> HostLimits:
    mem = memory_info()
    return HostLimits(
        memory=mem["available"],
        cpus=cpu_count(),
        disk=free_disk(disk_dir) if disk_dir is not None else None,
    )


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
        else ("kvm" if _normalize_accel(accel) == "kvm" else "qemu")
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


def dev_kvm_problem(user: HypervisorUser | None = None) -> str | None:
    """A host-setup problem with /dev/kvm that slows libvirt down, with its fix.

    When /dev/kvm exists but the hypervisor user cannot open it (no udev, so
    it stays root-only 0600), a privileged libvirtd probes QEMU with KVM yet
    finds KVM "not available now" on every lookup, so it re-probes QEMU
    capabilities (seconds each) on every define/start/domcaps call, and calls
    pile up. Debian's udev rule makes it root:kvm 0660; do the same.
    """
    if not os.path.exists("/dev/kvm"):
        return None
    user = user or hypervisor_user("qemu:///system")
    st = os.stat("/dev/kvm")
    if user.uid == 0 or user.uid == st.st_uid:
        return None
    mode = st.st_mode
    if (st.st_gid in user.groups and mode & 0o060 == 0o060) or mode & 0o006 == 0o006:
        return None
    return (
        f"/dev/kvm is not accessible to {user.name!r} (mode {stat.S_IMODE(mode):04o}), so "
        "libvirtd re-probes QEMU on every call and defines/starts stall. Fix (what "
        "Debian's udev rule does): chgrp kvm /dev/kvm && chmod 0660 /dev/kvm"
    )


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


# ------------------------------------------------------- hypervisor identity

QEMU_CONF = Path("/etc/libvirt/qemu.conf")
#: Debian's build default for the user QEMU runs as under a privileged daemon.
DEFAULT_QEMU_USER = "libvirt-qemu"


@dataclasses.dataclass(frozen=True)
class HypervisorUser:
    """Who QEMU runs as, hence who must be able to reach ISOs and disks."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    #: libvirt chowns disk/ISO files to this user while the guest runs
    #: (qemu.conf dynamic_ownership), so only the directories must be reachable.
    dynamic_ownership: bool


def _qemu_conf() -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        text = QEMU_CONF.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        out[key.strip()] = value.strip().strip('"')
    return out


def hypervisor_user(uri: str = "qemu:///session") -> HypervisorUser:
    """The account QEMU guests run as for *uri* on this host.

    A privileged daemon (``qemu:///system``, or any URI when we are root)
    drops QEMU to qemu.conf's ``user`` (``libvirt-qemu`` on Debian); an
    unprivileged session runs QEMU as ourselves.
    """
    import grp
    import pwd

    privileged = os.geteuid() == 0 or uri.rstrip("/").endswith("/system")
    if privileged:
        conf = _qemu_conf()
        name = conf.get("user", DEFAULT_QEMU_USER)
        dyn = conf.get("dynamic_ownership", "1") != "0"
        try:
            pw = pwd.getpwnam(name) if not name.startswith("+") else pwd.getpwuid(int(name[1:]))
        except (KeyError, ValueError):
            pw = pwd.getpwuid(os.geteuid())
            dyn = False
    else:
        pw = pwd.getpwuid(os.geteuid())
        dyn = False
    groups = {pw.pw_gid, *(g.gr_gid for g in grp.getgrall() if pw.pw_name in g.gr_mem)}
    return HypervisorUser(pw.pw_name, pw.pw_uid, pw.pw_gid, tuple(sorted(groups)), dyn)


# ------------------------------------------------------ what it may open

_ACL_XATTR = "system.posix_acl_access"
_ACL_USER_OBJ, _ACL_USER, _ACL_GROUP_OBJ, _ACL_GROUP, _ACL_MASK, _ACL_OTHER = (
    0x01, 0x02, 0x04, 0x08, 0x10, 0x20,
)  # fmt: skip


def _acl_entries(path: str) -> list[tuple[int, int, int]] | None:
    """POSIX ACL entries (tag, perm, id) of *path*, or None without an ACL."""
    try:
        raw = os.getxattr(path, _ACL_XATTR)
    except OSError:
        return None
    if len(raw) < 4 or int.from_bytes(raw[:4], "little") != 2:
        return None
    out = []
    for off in range(4, len(raw) - 7, 8):
        tag = int.from_bytes(raw[off : off + 2], "little")
        perm = int.from_bytes(raw[off + 2 : off + 4], "little")
        ident = int.from_bytes(raw[off + 4 : off + 8], "little")
        out.append((tag, perm, ident))
    return out


def may_access(
    path: str | os.PathLike[str],
    user: HypervisorUser,
    want: int,
    st: os.stat_result | None = None,
) -> bool:
    """Whether *user* has permission bits *want* (4 r, 2 w, 1 x) on *path*.

    Mode bits and POSIX ACLs (``setfacl -m u:libvirt-qemu:x DIR``, the fix we
    suggest, must count), as the kernel decides it.
    """
    if user.uid == 0:
        return True
    st = st or os.stat(path)
    mode = st.st_mode
    acl = _acl_entries(os.fspath(path))
    if acl is None:
        if user.uid == st.st_uid:
            return (mode >> 6) & want == want
        if st.st_gid in user.groups:
            return (mode >> 3) & want == want
        return mode & want == want
    mask = next((p for t, p, _ in acl if t == _ACL_MASK), 7)
    if user.uid == st.st_uid:
        return (mode >> 6) & want == want
    for t, p, i in acl:
        if t == _ACL_USER and i == user.uid:
            return p & mask & want == want
    group_match = False
    for t, p, i in acl:
        gid = st.st_gid if t == _ACL_GROUP_OBJ else i if t == _ACL_GROUP else None
        if gid is not None and gid in user.groups:
            group_match = True
            if p & mask & want == want:
                return True
    if group_match:
        return False
    return mode & want == want


def unsearchable_dirs(directory: Path, user: HypervisorUser) -> list[tuple[str, int]]:
    """*directory* and the folders above it that *user* cannot enter, with their modes.

    Folders that do not exist (yet) are skipped.
    """
    blocked = []
    for d in [*reversed(directory.parents), directory]:
        try:
            st = os.stat(d)
        except OSError:
            continue
        if not may_access(d, user, 1, st):
            blocked.append((str(d), stat.S_IMODE(st.st_mode)))
    return blocked
