"""What a running VM is doing now, for ``vm info``: uptime, CPU time, memory in use.

Public API (stable): :func:`runtime_stats` ``(dom, state, local=True, guest_stats=None)
-> dict`` with
``uptime`` (seconds since its QEMU started; None when unknown or the
hypervisor is on another host), ``cpu_time`` (seconds of
guest CPU), ``memory_used`` (bytes the QEMU process holds in host RAM, its
RSS), ``memory_guest_used`` (bytes the guest says it uses; needs its balloon
driver, else None); :func:`serial_tail` ``(path, lines=5)``; and
:func:`qemu_process` ``(name)`` (the local QEMU's pid, ``/proc`` state, start, RSS:
how :mod:`.guard` tells a stopped QEMU without asking its monitor).

Why the QEMU process for uptime: libvirt reports no start time without a
guest agent; the hypervisor runs on this host (local URIs), so the process's
start time in ``/proc`` is the VM's.
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["file_sizes", "qemu_process", "runtime_stats", "serial_tail"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")


#: pid of each local guest's QEMU, by VM name (checked against its cmdline on use).
_PIDS: dict[str, int] = {}
_PIDS_LOCK = threading.Lock()
#: When /proc was last scanned: a VM without a process is not rescanned more often.
_RESCAN_EVERY = 1.0
_last_scan = 0.0


def _guest_of(pid: str) -> str | None:
    """The VM name in a QEMU command line (``-name guest=NAME,...``), if it is one."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    for arg in args:
        if arg.startswith(b"guest="):
            # QEMU option syntax: ',' ends the value, ',,' is a literal comma
            value = arg[len(b"guest=") :].replace(b",,", b"\0").split(b",")[0]
            return value.replace(b"\0", b",").decode(errors="replace")
    return None


def _pid_of(name: str) -> int | None:
    global _last_scan
    pid = _PIDS.get(name)
    if pid is not None and _guest_of(str(pid)) == name:
        return pid
    with _PIDS_LOCK:
        if time.monotonic() - _last_scan < _RESCAN_EVERY:
            pid = _PIDS.get(name)
            return pid if pid is not None and _guest_of(str(pid)) == name else None
        found = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                guest = _guest_of(entry)
                if guest is not None:
                    found[guest] = int(entry)
        _PIDS.clear()
        _PIDS.update(found)
        _last_scan = time.monotonic()
        return found.get(name)


def qemu_process(name: str) -> dict[str, Any] | None:
    """VM *name*'s local QEMU process: ``pid``, ``state`` (``/proc`` letter:
    ``T`` = stopped), ``started`` (epoch s), ``rss`` (bytes); None if none runs here."""
    pid = _pid_of(name)
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError):
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": field 3 onwards
    return {
        "pid": pid,
        "state": fields[0],
        "started": boot + int(fields[19]) / os.sysconf("SC_CLK_TCK"),  # field 22
        "rss": int(fields[21]) * os.sysconf("SC_PAGE_SIZE"),  # field 24, in pages
    }


def runtime_stats(
    dom: Any, state: str, local: bool = True, guest_stats: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Never asks the guest's QEMU monitor: CPU time from libvirt, the rest from
    ``/proc`` (local) and *guest_stats* (``memoryStats()``, when the caller got it)."""
    out: dict[str, Any] = {
        "uptime": None, "cpu_time": None, "memory_used": None, "memory_guest_used": None,
    }  # fmt: skip
    if state not in ("running", "blocked", "paused", "shutting-down", "pmsuspended"):
        return out
    try:
        out["cpu_time"] = round(dom.info()[4] / 1e9, 1)
    except Exception:  # stopped meanwhile
        return out
    stats = guest_stats or {}
    proc = qemu_process(dom.name()) if local else None
    if proc is not None:
        out["memory_used"] = proc["rss"]
        out["uptime"] = max(0, round(time.time() - proc["started"]))
    elif "rss" in stats:
        out["memory_used"] = int(stats["rss"]) * 1024
    if "available" in stats and "unused" in stats:
        out["memory_guest_used"] = (int(stats["available"]) - int(stats["unused"])) * 1024
    return out


def file_sizes(path: str, fmt: str | None) -> dict[str, int | None] | None:
    """Capacity and allocation of a local disk image read from the file itself
    (qcow2: the virtual size in its header); None when it cannot be read.

    Why not libvirt: ``blockInfo`` of a running domain asks its QEMU monitor,
    and a pool lookup waits for any pool refresh another client runs (seconds
    on a busy shared pool); ``GET vms`` must wait for neither."""
    try:
        st = os.stat(path)
        capacity = st.st_size
        if fmt == "qcow2":
            with open(path, "rb") as f:
                head = f.read(32)
            if len(head) < 32 or head[:4] != b"QFI\xfb":
                return None
            capacity = int.from_bytes(head[24:32], "big")
    except OSError:
        return None
    return {"capacity": capacity, "allocation": st.st_blocks * 512}


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
