"""Calls that need a guest's QEMU monitor: one at a time per VM, each with a deadline.

Public API (stable):

- :data:`MONITOR_DEADLINE` — seconds a monitor call may take before its VM
  counts as unresponsive and the caller gets 504 ``vm_unresponsive``.
- :class:`MonitorGuard` ``(local=True)``, one per libvirt URI (``VMManager.guard``):
  ``call(name, fn, what, deadline=MONITOR_DEADLINE)`` (blocking) and
  ``await acall(...)`` run ``fn()`` in VM *name*'s own lane;
  ``try_call(name, fn, what, wait)`` is the same for optional extras (None
  when the answer does not come within *wait*); ``unresponsive(name, dom=None)``
  says why the VM does not respond (None when it does) without touching its
  monitor; ``check(name, dom=None)`` raises :class:`~.errors.VMUnresponsive`
  (:func:`unresponsive_error` ``(name, why)`` builds it).
- :class:`PoolAdmission` — ``async with admission.admit(name):`` lets at most
  :data:`PER_VM_THREADS` of one VM's calls into the shared ``libvirt`` pool.

Why (measured here, libvirt 9.0 + QEMU 7.2, a guest's QEMU SIGSTOPped):
``state``, ``info``, ``controlInfo``, ``XMLDesc`` (live or inactive),
``autostart``, ``isPersistent``, ``vcpusFlags``, ``listAllSnapshots`` and
``listAllDomains`` still answer in under 1 ms, while ``memoryStats``,
``blockInfo``, ``openGraphicsFD``, suspend/resume and device changes wait on
the monitor for ever (libvirt has no timeout there) and hold the domain's job,
so every later one waits libvirt's 30 s job timeout. And libvirtd serves at
most 5 requests per client connection at once (``max_client_requests``), so
five such calls from our one connection stall every VM. So: a VM's monitor
calls run in order in that VM's own thread (a lane); a call past its deadline
answers 504 while its thread waits on in the background, and until it returns
every new call of that VM answers 504 at once. Nothing queues behind a stuck
call, and the shared pool never waits on one for longer than a deadline.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from .errors import VMBusy, VMUnresponsive

__all__ = [
    "MONITOR_DEADLINE",
    "PER_VM_THREADS",
    "MonitorGuard",
    "PoolAdmission",
    "unresponsive_error",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Seconds a monitor call (stats, a screenshot's console, suspend, a disc
#: change...) may take; a healthy TCG guest on a loaded host answers in ms.
MONITOR_DEADLINE = 10.0
#: Calls that may wait in one VM's lane behind the running one.
MAX_QUEUED = 4
#: Threads of the shared ``libvirt`` pool one VM may hold at once.
PER_VM_THREADS = 2
#: How often a waiting caller looks whether the VM's QEMU was stopped meanwhile.
_SLICE = 0.25
_STOPPED = "its QEMU process is stopped (SIGSTOP or a debugger)"
_VIR_DOMAIN_CONTROL_OCCUPIED = 2
_VIR_DOMAIN_CONTROL_ERROR = 3


@dataclasses.dataclass(eq=False)
class _Job:
    fn: Callable[[], Any]
    what: str
    deadline: float | None  # None: long work (a snapshot) that is never "late"
    future: concurrent.futures.Future[Any]
    started: float | None = None

    def late(self, now: float) -> float | None:
        """Seconds it has run, if past its deadline."""
        if self.started is None or self.deadline is None:
            return None
        ran = now - self.started
        return ran if ran > self.deadline else None


class _Lane:
    """The monitor calls of one VM: a queue and the thread working it."""

    def __init__(self) -> None:
        self.jobs: collections.deque[_Job] = collections.deque()
        self.current: _Job | None = None
        self.working = False


class MonitorGuard:
    """Per-VM lanes for the monitor calls of one libvirt URI (thread-safe)."""

    def __init__(self, local: bool = True) -> None:
        self.local = local  # QEMU runs on this host: /proc tells a stopped one
        self._lock = threading.Lock()
        self._lanes: dict[str, _Lane] = {}

    # ------------------------------------------------------------ state

    def unresponsive(self, name: str, dom: Any = None) -> str | None:
        """Why VM *name* counts as not responding, or None; never touches its monitor.

        Three signs, cheapest first: one of our calls is past its deadline;
        its QEMU process is stopped (local hosts, ``/proc``); libvirt's
        ``controlInfo`` of *dom* says another client's monitor call has been
        waiting longer than :data:`MONITOR_DEADLINE`.
        """
        now = time.monotonic()
        with self._lock:
            lane = self._lanes.get(name)
            current = lane.current if lane else None
        if current is not None:
            ran = current.late(now)
            if ran is not None:
                return f"{current.what} has waited {ran:.0f} s for its QEMU to answer"
        if self.local:
            from .runtime import qemu_process

            proc = qemu_process(name)
            if proc is not None and proc["state"] in ("T", "t"):
                return _STOPPED
        if dom is not None and not (current is not None and current.deadline is None):
            try:
                state, _details, ms = dom.controlInfo()
            except Exception:  # shut off or gone meanwhile: nothing to say
                return None
            if state == _VIR_DOMAIN_CONTROL_OCCUPIED and ms > MONITOR_DEADLINE * 1000:
                return f"its QEMU monitor has been busy for {ms / 1000:.0f} s"
            if state == _VIR_DOMAIN_CONTROL_ERROR:
                return "libvirt reports an error on its QEMU monitor"
        return None

    def check(self, name: str, dom: Any = None) -> None:
        """Raise :class:`VMUnresponsive` at once when VM *name* does not respond."""
        why = self.unresponsive(name, dom)
        if why is not None:
            raise unresponsive_error(name, why)

    # ------------------------------------------------------------ calls

    def call(
        self, name: str, fn: Callable[[], T], what: str, deadline: float | None = MONITOR_DEADLINE
    ) -> T:
        """``fn()`` in VM *name*'s lane; 504 past *deadline* (None: no deadline)."""
        if threading.current_thread().name == _lane_thread(name):
            return fn()  # a lane call calling another: it already has the lane
        job = self._submit(name, fn, what, deadline)
        end = None if deadline is None else time.monotonic() + deadline
        while True:
            left = _SLICE if end is None else min(_SLICE, end - time.monotonic())
            try:
                return job.future.result(timeout=max(left, 0))
            except concurrent.futures.TimeoutError:
                self._still_waiting(name, job, end)

    async def acall(
        self, name: str, fn: Callable[[], T], what: str, deadline: float | None = MONITOR_DEADLINE
    ) -> T:
        """:meth:`call` for the event loop: the wait holds no thread."""
        job = self._submit(name, fn, what, deadline)
        waiting = asyncio.wrap_future(job.future)
        end = None if deadline is None else time.monotonic() + deadline
        try:
            while True:
                left = _SLICE if end is None else min(_SLICE, end - time.monotonic())
                done, _ = await asyncio.wait({waiting}, timeout=max(left, 0))
                if done:
                    return waiting.result()
                self._still_waiting(name, job, end)
        finally:  # a late answer (or error) is nobody's now: consume it quietly
            waiting.add_done_callback(lambda f: f.cancelled() or f.exception())

    def try_call(self, name: str, fn: Callable[[], T], what: str, wait: float) -> T | None:
        """``fn()`` if its answer comes within *wait* s, else None (for optional extras).

        Not queued when the lane is busy; a late answer is dropped, but the
        call keeps its full deadline for telling an unresponsive VM.
        """
        with self._lock:
            lane = self._lanes.get(name)
            if lane is not None and (lane.current is not None or lane.jobs):
                return None
        try:
            job = self._submit(name, fn, what, MONITOR_DEADLINE)
        except (VMUnresponsive, VMBusy):
            return None
        try:
            return job.future.result(timeout=wait)
        except Exception:  # late, or failed (shut off meanwhile): an extra, not an error
            return None

    # ------------------------------------------------------------ lanes

    def _submit(self, name: str, fn: Callable[[], Any], what: str, deadline: float | None) -> _Job:
        self.check(name)
        job = _Job(fn, what, deadline, concurrent.futures.Future())
        with self._lock:
            lane = self._lanes.get(name)
            if lane is None:
                lane = self._lanes[name] = _Lane()
            if len(lane.jobs) >= MAX_QUEUED:
                raise _busy(name, lane.current or lane.jobs[0])
            lane.jobs.append(job)
            if not lane.working:
                lane.working = True
                threading.Thread(
                    target=self._work, args=(name, lane), name=_lane_thread(name), daemon=True
                ).start()
        return job

    def _work(self, name: str, lane: _Lane) -> None:
        while True:
            with self._lock:
                if not lane.jobs:
                    lane.working = False
                    if self._lanes.get(name) is lane:
                        del self._lanes[name]
                    return
                job = lane.jobs.popleft()
                if not job.future.set_running_or_notify_cancel():
                    continue  # its caller gave up while it queued
                lane.current = job
                job.started = time.monotonic()
            try:
                result = job.fn()
            except BaseException as e:
                job.future.set_exception(e)
            else:
                job.future.set_result(result)
            with self._lock:
                lane.current = None
            ran = job.late(time.monotonic())
            if ran is not None:
                log.warning("kernelswitch: VM %s answered %s after %.1f s", name, job.what, ran)

    def _still_waiting(self, name: str, job: _Job, end: float | None) -> None:
        """Called each slice a caller waits: raise once waiting is pointless."""
        now = time.monotonic()
        if job.started is None:  # still queued behind another call
            if end is not None and now >= end and job.future.cancel():
                with self._lock:
                    lane = self._lanes.get(name)
                    holder = lane.current if lane else None
                why = self.unresponsive(name)
                if why is not None or holder is None:
                    raise unresponsive_error(name, why or f"{job.what} found its QEMU busy")
                raise _busy(name, holder)
        elif end is not None and now >= end:
            raise unresponsive_error(
                name, f"{job.what} got no answer from its QEMU within {job.deadline:g} s"
            )
        if self.local:  # stopped meanwhile: no use waiting out the deadline
            from .runtime import qemu_process

            proc = qemu_process(name)
            if proc is not None and proc["state"] in ("T", "t"):
                job.future.cancel()  # if still queued; a running call finishes in the background
                raise unresponsive_error(name, _STOPPED)


def _lane_thread(name: str) -> str:
    return f"ks-monitor-{name}"


def unresponsive_error(name: str, why: str) -> VMUnresponsive:
    """The 504 for VM *name*, saying *why* and what still works."""
    msg = (
        f"VM {name!r} is not responding: {why}. Calls that need its QEMU answer at once "
        "with this error until it responds again; its state and definition are still "
        f"listed, and `kernelswitch vm destroy {name}` still forces it off."
    )
    return VMUnresponsive(msg, details={"name": name, "reason": why})


def _busy(name: str, holder: _Job) -> VMBusy:
    ran = time.monotonic() - (holder.started or time.monotonic())
    msg = (
        f"VM {name!r} is busy: {holder.what} has been running for {ran:.1f} s. "
        "Try again when it finishes."
    )
    return VMBusy(msg, details={"name": name, "busy_with": holder.what})


class PoolAdmission:
    """At most :data:`PER_VM_THREADS` calls per VM in the shared ``libvirt`` pool.

    The others wait on the event loop (no thread), so a VM whose calls wait out
    their deadline can hold two of the pool's threads, never all of them.
    Loop-agnostic (plain counters, polled), like :mod:`._oplock`.
    """

    def __init__(self, limit: int = PER_VM_THREADS) -> None:
        self.limit = limit
        self._in: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def admit(self, name: str) -> AsyncIterator[None]:
        pause = 0.005
        while self._in.get(name, 0) >= self.limit:
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)
        self._in[name] = self._in.get(name, 0) + 1
        try:
            yield
        finally:
            left = self._in[name] - 1
            if left:
                self._in[name] = left
            else:
                del self._in[name]
