"""``kernelswitch doctor``: check the host, print the fix for each problem.

Exit status 0 only when VMs can run here (libvirt reachable, QEMU present, an
accelerator that really boots, the osinfo database loadable). Chromium is
checked for the test suite but does not affect the exit status.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True  # False: reported, but VMs can run without it
    data: dict[str, Any] = field(default_factory=dict)
    #: Works, but the user should act (the fix says how) or expect slowness.
    warn: bool = False

    @property
    def status(self) -> str:
        """``ok``, ``warn`` (works, but act or expect slowness) or ``fail``."""
        if self.ok and not self.warn:
            return "ok"
        return "fail" if not self.ok and self.required else "warn"


def _check_daemons() -> Check:
    missing = [
        name
        for name, sock in (
            ("virtlogd", "/run/libvirt/virtlogd-sock"),
            ("libvirtd", "/run/libvirt/libvirt-sock"),
        )
        if not os.path.exists(sock)
    ]
    if missing:
        return Check(
            "libvirt daemons",
            False,
            f"not running: {', '.join(missing)} (their sockets are missing)",
            "mkdir -p /var/log/libvirt && "
            + " && ".join(f"{m} -d" for m in missing)
            + "   (or ./dev setup, which does this)",
        )
    return Check("libvirt daemons", True, "virtlogd and libvirtd sockets present")


def _check_libvirt(uri: str) -> Check:
    try:
        import libvirt
    except ImportError:
        return Check(
            "libvirt",
            False,
            "the libvirt Python binding is not installed",
            "pip install libvirt-python (needs apt packages libvirt-dev pkg-config)",
        )
    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError as e:
        return Check(
            "libvirt",
            False,
            f"cannot connect to {uri}: {e.get_error_message()}",
            "start the daemons (virtlogd -d; libvirtd -d) or set KERNELSWITCH_LIBVIRT_URI",
        )
    try:
        lib = conn.getLibVersion()
        hv = conn.getVersion()
    finally:
        conn.close()

    def ver(n: int) -> str:
        return f"{n // 1000000}.{n // 1000 % 1000}.{n % 1000}"

    return Check(
        "libvirt",
        True,
        f"{uri}: libvirt {ver(lib)}, QEMU {ver(hv)}",
        data={"uri": uri, "libvirt": ver(lib), "qemu": ver(hv)},
    )


def _local(uri: str, index: int) -> Check:
    check = _check_libvirt(uri)
    if index:
        check.name, check.required = f"libvirt {uri}", False
    return check


def _check_dev_kvm() -> Check:
    from ..vm.host import dev_kvm_problem

    problem = dev_kvm_problem()
    if problem:
        detail, _, fix = problem.partition(" Fix ")
        # slow (libvirtd re-probes QEMU on every call) but VMs still run
        return Check(
            "/dev/kvm access", False, detail, fix.split("): ", 1)[-1] or problem, required=False
        )
    return Check("/dev/kvm access", True, "no /dev/kvm, or the hypervisor user can open it")


def _check_qemu() -> Check:
    exe = shutil.which("qemu-system-x86_64")
    if not exe:
        return Check(
            "QEMU",
            False,
            "qemu-system-x86_64 not found",
            "apt-get install qemu-system-x86 qemu-utils",
        )
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=20)
    first = out.stdout.splitlines()[0] if out.stdout else "unknown version"
    if not shutil.which("qemu-img"):
        return Check("QEMU", False, f"{first}; qemu-img missing", "apt-get install qemu-utils")
    return Check("QEMU", True, first, data={"path": exe})


def _check_accel() -> Check:
    from ..vm.host import detect_accel

    report = detect_accel()
    tcg = report.accel != "kvm"
    return Check(
        "accelerator",
        True,
        f"{report.accel.upper()} ({report.method}): {report.reason}",
        # TCG emulates every instruction: guests run, but many times slower.
        "expect guests to be slow (software emulation); enable hardware virtualization "
        "(KVM) in the firmware or the host's hypervisor for full speed"
        if tcg
        else "",
        data={"accel": report.accel, "method": report.method},
        warn=tcg,
    )


def _check_osinfo() -> Check:
    try:
        from ..vm.osinfo import db_info

        info = db_info()
    except Exception as e:  # any failure here means: no OS detection
        return Check(
            "osinfo database",
            False,
            f"cannot load libosinfo: {e}",
            "apt-get install gir1.2-libosinfo-1.0 osinfo-db; pip install 'PyGObject<3.51'",
        )
    age = info.get("age_days")
    detail = f"{info.get('os_count', '?')} OSes, osinfo-db {info.get('version', '?')}"
    fix = ""
    if isinstance(age, int):
        detail += f", {age} days old"
        if age > 365:
            fix = (
                "newer OSes will not be identified; update with `osinfo-db-import --local "
                "--latest` or a newer osinfo-db package (you can still pick the OS by hand)"
            )
    return Check("osinfo database", True, detail, fix, data=info, warn=bool(fix))


def _check_chromium() -> Check:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        return Check(
            "Chromium (tests)",
            False,
            "not found: browser tests cannot run",
            "apt-get install chromium",
            required=False,
        )
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    return Check("Chromium (tests)", True, out.stdout.strip() or exe, required=False)


def run_checks(uri: str | list[str]) -> list[Check]:
    from ..vm.hosts.uri import is_remote
    from .doctor_hosts import check_remote

    uris = [uri] if isinstance(uri, str) else list(uri)
    per_host: list[Callable[[], Check]] = []
    for i, u in enumerate(uris):
        if is_remote(u):  # the first URI is where new VMs go: it must work
            per_host.append(lambda u=u, i=i: check_remote(u, required=i == 0))  # type: ignore[misc]
        else:
            per_host.append(lambda u=u, i=i: _local(u, i))  # type: ignore[misc]
    checks: list[Callable[[], Check]] = [
        _check_daemons,
        *per_host,
        _check_qemu,
        _check_dev_kvm,
        _check_accel,
        _check_osinfo,
        _check_chromium,
    ]
    results = []
    for check in checks:
        try:
            results.append(check())
        except Exception as e:  # a broken check is a failed check, not a traceback
            results.append(Check(getattr(check, "__name__", "check"), False, f"check failed: {e}"))
    return results


def _doctor(args: argparse.Namespace) -> int:
    from .doctor_hosts import configured_uris

    results = run_checks(configured_uris(args.uri))
    can_run = all(c.ok for c in results if c.required)
    if args.json:
        print(
            json.dumps(
                {
                    "vms_can_run": can_run,
                    "checks": [{**asdict(c), "status": c.status} for c in results],
                },
                indent=2,
            )
        )
    else:
        for c in results:
            mark = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}[c.status]
            print(f"[{mark}] {c.name}: {c.detail}")
            if c.fix:
                print(f"       fix: {c.fix}")
        print("VMs can run here." if can_run else "VMs cannot run here until the above is fixed.")
    return 0 if can_run else 1


def register(sub: Any) -> None:
    p = sub.add_parser("doctor", help="check the host and print the fix for each problem")
    p.add_argument(
        "--uri", action="append",
        help="libvirt URI to check, repeatable (default: KernelSwitchApp.libvirt_uris from "
        "the Jupyter config, else $KERNELSWITCH_LIBVIRT_URI, else qemu:///session)",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_doctor)
