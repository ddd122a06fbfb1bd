"""Benchmark: our VM create against virt-install, same ISO, same run (issue 4).

Ours = identify the ISO (libosinfo) + validate + build the domain XML + create
the qcow2 volume + define + start, through :class:`kernelswitch.vm.manager.VMManager`.
virt-install = ``virt-install --cdrom ISO --osinfo detect=on,require=off
--disk size=1 --graphics vnc --virt-type qemu --noautoconsole`` (it also
identifies, builds XML, allocates a disk, defines and starts).

Three measurements of ours, each printed with its ratio to virt-install:

- ``server``: steady state inside the Jupyter server (osinfo database loaded
  at start, libvirt connection open) — what a user clicking "create" waits for.
  The target (ratio <= 0.5) applies here.
- ``first``: the first create in a fresh process (loads libosinfo, opens the
  connection, reads domain capabilities).
- ``process``: a whole fresh Python process doing one create, the closest
  analogue of running the virt-install command.

    python benchmarks/create.py [--iso PATH] [--repeat N] [--uri URI] [--json]

Every VM and disk made here is removed again. Exit status 1 when the target
is missed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

TARGET_RATIO = 0.5
PREFIX = "ksbench-"


def _virt_install(uri: str, name: str, iso: str) -> float:
    cmd = [
        "virt-install", "--connect", uri, "--name", name, "--cdrom", iso,
        "--osinfo", "detect=on,require=off", "--disk", "size=1", "--graphics", "vnc",
        "--virt-type", "qemu", "--noautoconsole",
    ]  # fmt: skip
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"virt-install failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return elapsed


def _remove(uri: str, name: str) -> None:
    """Destroy and undefine *name*, removing its writable disks (not the ISO)."""
    import libvirt

    from kernelswitch.vm.domain import parse_domain

    conn = libvirt.open(uri)
    try:
        try:
            dom = conn.lookupByName(name)
        except libvirt.libvirtError:
            return
        disks = [d["path"] for d in parse_domain(dom.XMLDesc(0))["disks"] if not d["readonly"]]
        if dom.isActive():
            dom.destroy()
        dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
        for path in disks:
            try:
                conn.storageVolLookupByPath(path).delete(0)
            except libvirt.libvirtError:
                Path(path).unlink(missing_ok=True)
    finally:
        conn.close()


_PROCESS_CODE = """
import sys, time
t = time.perf_counter()
from kernelswitch.vm.manager import VMManager
VMManager(sys.argv[1]).create(sys.argv[2], sys.argv[3])
print(time.perf_counter() - t)
"""


def _ours_process(uri: str, name: str, iso: str) -> float:
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _PROCESS_CODE, uri, name, iso],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"our create failed: {proc.stderr.strip()[-2000:]}")
    return elapsed


def run(iso: str, repeat: int, uri: str) -> dict[str, Any]:
    import libvirt

    from kernelswitch.vm import host, osinfo
    from kernelswitch.vm.manager import VMManager

    # Lookups of names that do not exist yet are expected: keep libvirt quiet.
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    accel = host.detect_accel()
    results: dict[str, list[float]] = {"virt-install": [], "server": [], "process": []}
    first: float | None = None
    names: list[str] = []
    try:
        # First create in this process: loads libosinfo, opens libvirt, reads domcaps.
        name = f"{PREFIX}first"
        names.append(name)
        _remove(uri, name)
        t = time.perf_counter()
        manager = VMManager(uri)
        manager.create(name, iso)
        first = time.perf_counter() - t
        _remove(uri, name)
        for i in range(repeat):
            # Interleave so drift on a shared host hits both sides alike.
            vi = f"{PREFIX}vi-{i}"
            names.append(vi)
            _remove(uri, vi)
            results["virt-install"].append(_virt_install(uri, vi, iso))
            _remove(uri, vi)

            ours = f"{PREFIX}ours-{i}"
            names.append(ours)
            _remove(uri, ours)
            t = time.perf_counter()
            manager.create(ours, iso)
            results["server"].append(time.perf_counter() - t)
            _remove(uri, ours)

            proc = f"{PREFIX}proc-{i}"
            names.append(proc)
            _remove(uri, proc)
            results["process"].append(_ours_process(uri, proc, iso))
            _remove(uri, proc)
    finally:
        for n in names:
            _remove(uri, n)

    found = osinfo.identify(iso)
    vi_med = statistics.median(results["virt-install"])
    out: dict[str, Any] = {
        "iso": iso,
        "os": found.short_id if found else None,
        "accel": accel.accel,
        "uri": uri,
        "repeat": repeat,
        "virt_install_s": vi_med,
        "ours": {},
        "target_ratio": TARGET_RATIO,
    }
    for key in ("server", "process"):
        med = statistics.median(results[key])
        out["ours"][key] = {"seconds": med, "ratio": med / vi_med, "samples": results[key]}
    assert first is not None
    out["ours"]["first"] = {"seconds": first, "ratio": first / vi_med, "samples": [first]}
    out["virt_install_samples"] = results["virt-install"]
    out["ok"] = out["ours"]["server"]["ratio"] <= TARGET_RATIO
    return out


def main(argv: list[str] | None = None) -> int:
    from kernelswitch._paths import testos_dir

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iso", default=str(testos_dir() / "testos-fedora.iso"))
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--uri", default="qemu:///session")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if not Path(args.iso).is_file():
        print(f"{args.iso} is missing: run scripts/build-testos.sh", file=sys.stderr)
        return 2
    res = run(args.iso, args.repeat, args.uri)
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(f"ISO {res['iso']} (osinfo: {res['os']}), accel {res['accel']}, {res['uri']}")
        print(f"{'virt-install':<28} {res['virt_install_s']:7.3f} s")
        labels = {
            "server": "ours, server steady state",
            "first": "ours, first in a process",
            "process": "ours, fresh Python process",
        }
        for key in ("server", "first", "process"):
            r = res["ours"][key]
            print(f"{labels[key]:<28} {r['seconds']:7.3f} s   ratio {r['ratio']:.2f}x")
        verdict = "OK" if res["ok"] else "MISSED"
        print(f"target: server ratio <= {TARGET_RATIO}x -> {verdict}")
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
