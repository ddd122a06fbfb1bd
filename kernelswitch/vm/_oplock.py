"""One operation at a time per VM, on the server's event loop.

Public API (stable):

- :class:`OperationLocks` — ``async with locks.hold(name, "start"):`` runs the
  block alone for VM *name*; a second operation waits up to *wait* seconds
  (default :data:`OP_WAIT`) and then raises :class:`~.errors.VMBusy` (409
  ``vm_busy``) saying what is running and for how long. ``await acquire()`` /
  ``release()`` are the same for holds that span callbacks (a request).

Why not ``asyncio.Lock``: a lock bound to one event loop breaks when a test
session (or a restarted extension) runs a second loop; this one is plain state
touched only from the loop thread, and waiting is a short ``asyncio.sleep``
poll, so nothing ever blocks a thread. Only *changes* take the lock: reads
(``info``, ``list``) and a shutdown's wait for power-off do not, so ``destroy``
can always pull the plug on a guest that ignores the power button.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from .errors import VMBusy

__all__ = ["OP_WAIT", "OperationLocks"]

#: Seconds a second operation on a busy VM waits before it is refused.
OP_WAIT = 2.0
_POLL = 0.05


class OperationLocks:
    """Which VM is busy with what, since when, for which task.

    Re-entrant per asyncio task: a request that holds a VM (the handler's
    ``prepare``) may take the same VM again inside (a verb using
    ``fleet.operation``) without waiting on itself.
    """

    def __init__(self) -> None:
        # name -> [operation, since, owner task, depth]
        self._busy: dict[str, list[Any]] = {}

    def busy(self, name: str) -> str | None:
        """The operation running on *name*, if any."""
        held = self._busy.get(name)
        return held[0] if held else None

    @contextlib.asynccontextmanager
    async def hold(self, name: str, operation: str, wait: float = OP_WAIT) -> AsyncIterator[None]:
        await self.acquire(name, operation, wait)
        try:
            yield
        finally:
            self.release(name)

    async def acquire(self, name: str, operation: str, wait: float = OP_WAIT) -> None:
        """Mark *name* busy with *operation*; :meth:`release` it in a ``finally``."""
        me = asyncio.current_task()
        deadline = time.monotonic() + wait
        while True:
            held = self._busy.get(name)
            if held is None:
                self._busy[name] = [operation, time.monotonic(), me, 1]
                return
            if held[2] is me:
                held[3] += 1
                return
            if time.monotonic() >= deadline:
                raise VMBusy(
                    f"VM {name!r} is busy: {held[0]} has been running for "
                    f"{time.monotonic() - held[1]:.1f} s. Try {operation} again when it "
                    "finishes (operations on one VM run one at a time).",
                    details={"name": name, "busy_with": held[0]},
                )
            await asyncio.sleep(_POLL)

    def release(self, name: str) -> None:
        held = self._busy.get(name)
        if held is None:
            return
        held[3] -= 1
        if held[3] <= 0:
            del self._busy[name]
