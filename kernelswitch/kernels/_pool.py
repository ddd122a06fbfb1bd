"""Candidate kernels started before Apply: the env a user selects gets its
kernel while they read the comparison, so Apply only swaps (issue 20).

Public API (stable; the server's candidate handlers and the switch use it):

``CandidatePool(switcher, exists, ttl=120, max_candidates=4)``
    ``await start(kernel_id, km, record) -> dict`` starts (or keeps) the
    kernel's one candidate; ``describe(kernel_id) -> dict | None`` says what
    it is and whether it is ready; ``await drop(kernel_id, reason)``;
    ``await claim(kernel_id, target, timeout) -> (cand, prov, info) | None``
    is what :class:`~kernelswitch.kernels.Switcher` calls instead of starting
    a candidate itself; ``await close()`` at server stop.

Why it lives next to the switch: the candidate *is* the switch's candidate,
started through the same :meth:`Switcher._start_candidate` (same session key,
same provisioner, same launch environment), only earlier. Nothing else is
shared with the running kernel, so carry still copies the variables as they
are at Apply. What makes a waiting candidate wrong is dropped: another
selection, its ``ttl``, a change on disk of the target (interpreter,
``pyvenv.cfg``, ``site-packages``: mtimes, read every :data:`CHECK_EVERY`
seconds), the kernel going away; at most ``max_candidates`` wait per server
(each is a whole Python process), the oldest dropped first. A candidate
that died while waiting is not used: the switch starts one as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..envs import EnvRecord
from ..errors import KernelSwitchError
from ._candidate import discard
from ._launch import LaunchTarget

log = logging.getLogger("kernelswitch.kernels")

#: Seconds between two looks at the waiting candidates (ttl, disk, kernel, process).
CHECK_EVERY = 1.0


@dataclass
class Candidate:
    kernel_id: str
    target: LaunchTarget
    stamp: tuple[tuple[str, int], ...]
    started: float = field(default_factory=time.monotonic)
    expires: float = 0.0
    state: str = "starting"  # starting | ready | failed | exited
    task: asyncio.Task[Any] | None = None
    got: tuple[Any, Any, dict[str, Any]] | None = None  # (manager, provisioner, kernel_info)
    error: dict[str, Any] | None = None
    ready_after: float | None = None

    def to_json(self) -> dict[str, Any]:
        prov = self.got[1] if self.got else None
        return {
            "kernel_id": self.kernel_id, "state": self.state,
            "target": dict(self.target.record, mode=self.target.mode),
            "pid": getattr(prov, "pid", None), "ready_after_s": self.ready_after,
            "expires_in_s": max(0.0, round(self.expires - time.monotonic(), 1)),
            "error": self.error,
        }  # fmt: skip


def disk_stamp(target: LaunchTarget) -> tuple[tuple[str, int], ...]:
    """mtimes that change when the env is rebuilt or a package comes or goes."""
    paths = [target.executable, os.path.join(target.prefix, "pyvenv.cfg")]
    for pattern in ("lib/python*/site-packages", "lib/python*/dist-packages",
                    "Lib/site-packages"):
        paths += sorted(glob.glob(os.path.join(glob.escape(target.prefix), pattern)))
    out = []
    for p in paths:
        try:
            out.append((p, os.stat(p).st_mtime_ns))
        except OSError:
            out.append((p, -1))
    return tuple(out)


async def _dead(prov: Any) -> bool:
    """The candidate's process ended, or is ending: a killed multi-threaded
    process is a zombie (``Z``) before ``waitpid`` can reap it (seen: ~20 ms)."""
    if await prov.poll() is not None:
        return True
    try:
        with open(f"/proc/{prov.pid}/stat", encoding="ascii", errors="replace") as f:
            state = f.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):  # no /proc (not Linux): poll() is the answer
        return False
    return state in ("Z", "X")


class CandidatePool:
    """The waiting candidates of one server; see the module docstring."""

    def __init__(self, switcher: Any, exists: Callable[[str], bool], ttl: float = 120.0,
                 max_candidates: int = 4, logger: Any = None) -> None:
        self.switcher = switcher
        self.exists = exists
        self.ttl = ttl
        self.max_candidates = max_candidates
        self.log = logger or log
        self._by_kernel: dict[str, Candidate] = {}
        self._watch: asyncio.Task[None] | None = None

    def describe(self, kernel_id: str) -> dict[str, Any] | None:
        c = self._by_kernel.get(kernel_id)
        return c.to_json() if c is not None else None

    async def start(self, kernel_id: str, km: Any, rec: EnvRecord) -> dict[str, Any] | None:
        """Pre-start ``rec`` for this kernel; ``None`` when it already runs there.

        The same target again keeps the candidate (and its time to live
        starts over); another target replaces it. Refusals (policy, mode)
        raise as a switch would, before anything starts."""
        previous = self.switcher.target_of(km)
        if previous is None:
            self.switcher.current(km)  # raises NotSwitchable
        target = self.switcher._check(km, previous, rec)
        if target == previous:  # selecting the current env: nothing to prepare
            await self.drop(kernel_id, "the kernel already runs in the selected env")
            return None
        stamp = await asyncio.to_thread(disk_stamp, target)
        old = self._by_kernel.get(kernel_id)
        if (old is not None and old.target == target and old.state in ("starting", "ready")
                and old.stamp == stamp):  # selected again (after align: a new one)
            old.expires = time.monotonic() + self.ttl
            return old.to_json()
        if old is not None:
            await self.drop(kernel_id, "another env was selected" if old.target != target
                            else "selected again after a change")
        while len(self._by_kernel) >= self.max_candidates:
            oldest = min(self._by_kernel.values(), key=lambda c: c.started)
            await self.drop(oldest.kernel_id, f"more than {self.max_candidates} candidates")
        c = Candidate(kernel_id, target, stamp, expires=time.monotonic() + self.ttl)
        self._by_kernel[kernel_id] = c
        c.task = asyncio.ensure_future(self._launch(c, km))
        self._ensure_watch()
        return c.to_json()

    async def _launch(self, c: Candidate, km: Any) -> None:
        from . import _launch

        timings: dict[str, float] = {}
        try:
            c.got = await self.switcher._start_candidate(
                c.kernel_id, km, c.target, _launch.settings.timeout, timings)
        except Exception as e:
            code = e.code if isinstance(e, KernelSwitchError) else "kernel_exited"
            message = e.message if isinstance(e, KernelSwitchError) else str(e)
            c.state, c.error = "failed", {"code": code, "message": message}
            self.log.info("kernelswitch: candidate for %s in %s failed: %s", c.kernel_id,
                          c.target.prefix, message)
            return
        # the kernel's own start may write __pycache__ into site-packages: what
        # counts as a change is what happens after it is ready
        c.stamp = await asyncio.to_thread(disk_stamp, c.target)
        if self._by_kernel.get(c.kernel_id) is not c:  # dropped while it started
            await discard(c.got[0])
            c.got = None
            return
        c.state, c.ready_after = "ready", timings.get("ready")
        self.log.info("kernelswitch: candidate for %s in %s ready after %.2f s (pid %s)",
                      c.kernel_id, c.target.prefix, timings.get("ready", 0.0), c.got[1].pid)

    async def drop(self, kernel_id: str, reason: str) -> bool:
        c = self._by_kernel.pop(kernel_id, None)
        if c is None:
            return False
        self.log.info("kernelswitch: candidate for %s in %s dropped: %s", kernel_id,
                      c.target.prefix, reason)
        await self._stop(c)
        return True

    async def _stop(self, c: Candidate) -> None:
        # one still starting is not cancelled (a cancelled start_kernel would
        # leave its process behind): _launch sees it was dropped and discards it
        if c.got is not None:
            await discard(c.got[0])
            c.got = None

    async def claim(self, kernel_id: str, target: LaunchTarget, timeout: float
                    ) -> tuple[Any, Any, dict[str, Any]] | None:
        """The ready (or starting) candidate for exactly ``target``, taken out
        of the pool; ``None`` when there is none or it died (the caller then
        starts one). A candidate for another target is dropped."""
        c = self._by_kernel.get(kernel_id)
        if c is None:
            return None
        if c.target != target or c.state in ("failed", "exited"):
            await self.drop(kernel_id, "Apply chose another env" if c.target != target
                            else f"it {c.state}")
            return None
        if c.task is not None and not c.task.done():  # Apply while it starts: wait for it
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(c.task), timeout)
        if self._by_kernel.get(kernel_id) is not c or c.got is None:
            await self.drop(kernel_id, "it did not start")
            return None
        if await _dead(c.got[1]):
            await self.drop(kernel_id, "its process exited; a new one starts")
            return None
        del self._by_kernel[kernel_id]
        got, c.got = c.got, None
        self.log.info("kernelswitch: kernel %s switches to its pre-started candidate (pid %s)",
                      kernel_id, got[1].pid)
        return got

    def _ensure_watch(self) -> None:
        if self._watch is None or self._watch.done():
            self._watch = asyncio.ensure_future(self._watch_loop())

    async def _watch_loop(self) -> None:
        while self._by_kernel:
            await asyncio.sleep(CHECK_EVERY)
            for c in list(self._by_kernel.values()):
                try:
                    reason = await self._wrong(c)
                except Exception as e:  # one odd candidate must not stop the watch
                    reason = f"it could not be checked: {e}"
                if reason and self._by_kernel.get(c.kernel_id) is c:
                    await self.drop(c.kernel_id, reason)

    async def _wrong(self, c: Candidate) -> str | None:
        """Why this candidate must go, or None."""
        if not self.exists(c.kernel_id):
            return "its kernel is gone"
        if time.monotonic() > c.expires:
            return f"not applied within {self.ttl:g} s"
        if await asyncio.to_thread(disk_stamp, c.target) != c.stamp:
            return f"{c.target.prefix} changed on disk"
        if c.state == "ready" and c.got is not None and await _dead(c.got[1]):
            c.state = "exited"  # kept (GET says so) until Apply or its ttl
        return None

    async def close(self) -> None:
        for kid in list(self._by_kernel):
            await self.drop(kid, "the server stops")
        if self._watch is not None:
            self._watch.cancel()
