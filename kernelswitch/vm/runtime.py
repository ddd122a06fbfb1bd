"""What a running VM is doing now, for ``vm info``: uptime, CPU time, memory in use.

Public API (stable): :func:`runtime_stats` ``(dom, state, local=True) -> dict`` with
``uptime`` (seconds since its QEMU started; None when unknown or the
hypervisor is on another host), ``cpu_time`` (seconds of
guest CPU), ``memory_used`` (bytes the QEMU process holds in host RAM, its
RSS), ``memory_guest_used`` (bytes the guest says it uses; needs its balloon
driver, else None); and :func:`serial_tail` ``(path, lines=5)``.

Why the QEMU process for uptime: libvirt reports no start time without a
guest agent; the hypervisor runs on this host (local URIs), so the process's
start time in ``/proc`` is the VM's.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

__all__ = ["runtime_stats", "serial_tail"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")


def _qemu_start(name: str) -> float | None:
    """Epoch seconds when the QEMU process of VM *name* started (None if not found)."""
    needle = f"guest={name},".encode()
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError):
        return None
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if needle not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        return boot + int(fields[19]) / ticks  # field 22: starttime in clock ticks
    return None


def runtime_stats(dom: Any, state: str, local: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "uptime": None, "cpu_time": None, "memory_used": None, "memory_guest_used": None,
    }  # fmt: skip
    if state not in ("running", "blocked", "paused", "shutting-down", "pmsuspended"):
        return out
    try:
        out["cpu_time"] = round(dom.info()[4] / 1e9, 1)
    except Exception:  # stopped meanwhile
        return out
    try:
        stats = dict(dom.memoryStats())
    except Exception:
        stats = {}
    if "rss" in stats:
        out["memory_used"] = int(stats["rss"]) * 1024
    if "available" in stats and "unused" in stats:
        out["memory_guest_used"] = (int(stats["available"]) - int(stats["unused"])) * 1024
    started = _qemu_start(dom.name()) if local else None
    if started is not None:
        out["uptime"] = max(0, round(time.time() - started))
    return out


def serial_tail(path: str | None, lines: int = 5) -> list[str]:
    """The last *lines* non-empty lines of the serial log, control characters removed."""
    if not path:
        return []
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 8192))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    clean = [_ANSI.sub("", line).rstrip() for line in text.splitlines()]
    return [line for line in clean if line.strip()][-lines:]
