"""Which accelerator really works here: KVM or TCG (QEMU's emulator).

Public API (stable, re-exported by :mod:`.host`): :func:`detect_accel`
``(refresh=False) -> AccelReport`` (``accel``, ``reason``, ``domain_type`` for
``<domain type=...>``), :func:`probe_kvm`, :func:`run_probe`;
:func:`host_accel` ``(conn, alias) -> AccelReport`` for a remote host.

A remote host cannot be probed from here (the probe runs QEMU on this
machine), so there rule 4 becomes what that host's libvirt says it can do:
its domain capabilities for ``kvm`` (``getDomainCapabilities``; libvirt
refuses them when its QEMU cannot open ``/dev/kvm``) and vmx/svm among its
host CPU's features (:func:`host_accel`). ``KERNELSWITCH_ACCEL`` still
overrides. A remote host whose KVM exists but cannot boot (broken nesting) is
not seen this way: set ``KERNELSWITCH_ACCEL=tcg`` for it.

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
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

from .._paths import cache_dir
from .errors import HostError

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


def normalize_accel(value: str) -> str | None:
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
        accel = normalize_accel(override)
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


def host_accel(conn: Any, alias: str) -> AccelReport:
    """The accelerator for new domains on the (remote) host behind *conn*.

    Rule 1 (the override) as for this host; then KVM only when the host's
    libvirt offers ``kvm`` domain capabilities and its CPU shows vmx or svm.
    """
    override = os.environ.get(ACCEL_ENV)
    if override and normalize_accel(override):
        return AccelReport(normalize_accel(override) or "tcg", f"set by {ACCEL_ENV}", "override")
    try:
        conn.getDomainCapabilities(None, "x86_64", None, "kvm", 0)
    except Exception as e:  # libvirt.libvirtError: that host's QEMU has no usable KVM
        why = str(e).split("\n")[0].rstrip(".")
        return AccelReport("tcg", f"{alias} offers no KVM ({why})", "host-caps")
    import xml.etree.ElementTree as ET

    try:
        caps = ET.fromstring(conn.getCapabilities())
        flags = {f.get("name") for f in caps.findall("./host/cpu/feature")}
    except Exception:  # no CPU model there: libvirt's word on kvm stands
        flags = {"vmx"}
    if not flags & {"vmx", "svm"}:
        return AccelReport(
            "tcg", f"{alias}'s libvirt offers KVM but its CPU shows neither vmx nor svm",
            "host-caps",
        )
    return AccelReport("kvm", f"{alias}'s libvirt offers KVM (domain capabilities)", "host-caps")
