"""Live performance numbers of running VMs: sampled while someone watches.

Public API (stable):

- :func:`read_all` ``(conn) -> {name: raw}``: one bulk ``getAllDomainStats``
  call for every running VM of a connection (counters as libvirt has them).
- :func:`rates` ``(prev, cur) -> sample``: a sample between two readings:
  ``{"t", "cpu" (% of the VM's vCPUs), "vcpus", "memory_used", "memory_total"
  (bytes), "disk_read", "disk_write", "net_rx", "net_tx" (bytes/s)}``.
- :class:`StatsSampler` ``(managers, interval=1.0, keep=300.0, publish=None)``:
  ``watch(who)`` / ``unwatch(who)`` (a websocket that shows graphs),
  ``lease(seconds)`` (a REST caller: watched that long), ``await history(uri,
  name, seconds)``, ``stop()``; ``publish(uri, name, sample)`` gets every new one.

Why one bulk call with NOWAIT: one round trip to libvirtd per interval for all
VMs (per-VM ``info``/``blockStats``/``interfaceStats`` polling costs three per
VM), and ``NOWAIT`` makes libvirtd skip, rather than wait for, a VM whose QEMU
monitor is busy or stuck, so one hung guest never stalls everyone's graphs.
Nothing is sampled while no one watches (no watcher, no lease).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .connection import libvirt_module

log = logging.getLogger(__name__)

#: Seconds of history kept per VM (``GET vms/NAME/stats?seconds=300``).
KEEP = 300.0
#: How long one ``GET .../stats`` keeps the sampler going (the UI polls within it).
LEASE = 30.0
#: libvirt's VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT (libvirt >= 4.5).
NOWAIT = 1 << 29
_ACTIVE = 1  # VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE

Raw = dict[str, Any]


def read_all(conn: Any) -> dict[str, Raw]:
    """Counters of every running VM of *conn*, one libvirt call: ``{name: raw}``."""
    libvirt = libvirt_module()
    kinds = (libvirt.VIR_DOMAIN_STATS_CPU_TOTAL | libvirt.VIR_DOMAIN_STATS_BALLOON
             | libvirt.VIR_DOMAIN_STATS_VCPU | libvirt.VIR_DOMAIN_STATS_INTERFACE
             | libvirt.VIR_DOMAIN_STATS_BLOCK)  # fmt: skip
    try:
        pairs = conn.getAllDomainStats(kinds, _ACTIVE | NOWAIT)
    except libvirt.libvirtError as e:  # an old libvirtd without NOWAIT: wait then
        if e.get_error_code() != libvirt.VIR_ERR_INVALID_ARG:
            raise
        pairs = conn.getAllDomainStats(kinds, _ACTIVE)
    now = time.monotonic()
    return {dom.name(): _raw(now, stats) for dom, stats in pairs}


def _raw(now: float, s: dict[str, Any]) -> Raw:
    def total(prefix: str, count_key: str, field: str) -> int:
        return sum(int(s.get(f"{prefix}.{i}.{field}", 0)) for i in range(int(s.get(count_key, 0))))

    current = int(s.get("balloon.current", 0)) * 1024  # KiB
    unused = s.get("balloon.unused")
    # in use: what the guest says (balloon driver with stats) or QEMU's resident size
    rss = int(s.get("balloon.rss", 0)) * 1024
    used = current - int(unused) * 1024 if unused is not None else rss
    return {
        "t": now,
        "cpu_ns": int(s.get("cpu.time", 0)),
        "vcpus": int(s.get("vcpu.current", 1)) or 1,
        "memory_used": max(0, min(used, current)) if current else used,
        "memory_total": current,
        "rd": total("block", "block.count", "rd.bytes"),
        "wr": total("block", "block.count", "wr.bytes"),
        "rx": total("net", "net.count", "rx.bytes"),
        "tx": total("net", "net.count", "tx.bytes"),
    }


def rates(prev: Raw, cur: Raw) -> dict[str, Any]:
    """One sample from two readings (counters that went back, a restart, give 0)."""
    dt = max(cur["t"] - prev["t"], 1e-6)

    def per_s(key: str) -> float:
        return round(max(0, cur[key] - prev[key]) / dt, 1)

    cpu = max(0, cur["cpu_ns"] - prev["cpu_ns"]) / (dt * 1e9 * cur["vcpus"]) * 100
    return {
        "t": round(time.time() - (time.monotonic() - cur["t"]), 3),
        "cpu": round(min(cpu, 100.0), 1),
        "vcpus": cur["vcpus"],
        "memory_used": cur["memory_used"],
        "memory_total": cur["memory_total"],
        "disk_read": per_s("rd"),
        "disk_write": per_s("wr"),
        "net_rx": per_s("rx"),
        "net_tx": per_s("tx"),
    }


class StatsSampler:
    """See the module docstring."""

    def __init__(
        self,
        managers: Callable[[], dict[str, Any]],
        *,
        interval: float = 1.0,
        keep: float = KEEP,
        publish: Callable[[str, str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.managers = managers
        self.interval = interval
        self.publish = publish or (lambda uri, name, sample: None)
        self._maxlen = int(keep / interval) + 1
        self._history: dict[tuple[str, str], deque[dict[str, Any]]] = {}
        self._last: dict[tuple[str, str], Raw] = {}
        self._watchers: set[object] = set()
        self._lease_until = 0.0
        self._task: asyncio.Task[None] | None = None
        self._sampled = asyncio.Event()
        #: bulk calls made (tests and the benchmark count them)
        self.calls = 0

    # ------------------------------------------------------------ who watches

    @property
    def watched(self) -> bool:
        return bool(self._watchers) or time.monotonic() < self._lease_until

    def watch(self, who: object) -> None:
        self._watchers.add(who)
        self._ensure_running()

    def unwatch(self, who: object) -> None:
        self._watchers.discard(who)

    def lease(self, seconds: float = LEASE) -> None:
        self._lease_until = max(self._lease_until, time.monotonic() + seconds)
        self._ensure_running()

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    # ------------------------------------------------------------ samples

    async def history(self, uri: str, name: str, seconds: float = KEEP) -> list[dict[str, Any]]:
        """Samples of the last *seconds* (oldest first); a REST caller is a watcher
        for :data:`LEASE` seconds, and waits for a first sample if there is none."""
        self.lease()
        key = (uri, name)
        if not self._history.get(key):
            with contextlib.suppress(asyncio.TimeoutError):
                for _ in range(3):  # two readings make the first sample
                    self._sampled.clear()
                    await asyncio.wait_for(self._sampled.wait(), self.interval * 3)
                    if self._history.get(key):
                        break
        since = time.time() - seconds
        return [s for s in self._history.get(key, ()) if s["t"] >= since]

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        try:
            while self.watched:
                await self.sample_once()
                next_at = max(next_at + self.interval, loop.time())
                await asyncio.sleep(next_at - loop.time())
        finally:
            self._last.clear()  # a later start must not compute rates across the gap

    async def sample_once(self) -> None:
        """One bulk reading per URI; a sample for every VM read twice so far."""
        for uri, manager in list(self.managers().items()):
            try:
                raws = await manager.connection.acall(read_all)
            except Exception as e:  # a host that is down: its graphs pause
                log.debug("stats %s: %s", uri, e)
                continue
            self.calls += 1
            for name, raw in raws.items():
                key = (uri, name)
                prev = self._last.get(key)
                self._last[key] = raw
                if prev is None:
                    continue
                sample = rates(prev, raw)
                hist = self._history.get(key)
                if hist is None:
                    hist = self._history[key] = deque(maxlen=self._maxlen)
                hist.append(sample)
                self.publish(uri, name, sample)
            for key in [k for k in self._last if k[0] == uri and k[1] not in raws]:
                del self._last[key]  # stopped: its next run starts fresh
        self._sampled.set()
