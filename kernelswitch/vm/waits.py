"""Wait for a VM's state without holding a thread.

Public API (stable):

- :func:`check_timeout` ``(value, what="timeout", maximum=MAX_WAIT) -> float`` —
  a user's timeout if it is a finite number in ``[0, maximum]``; otherwise
  :class:`~.errors.InvalidVMSpec` whose message gives the bound.
- :func:`wait_state` ``(manager, name, states, timeout) -> bool`` (async) —
  True once VM *name* is in one of *states*, False when *timeout* passed.

Why: a guest that ignores its power button used to pin a worker thread in a
``time.sleep`` loop for the whole timeout, and a handful of those starved the
server. Here the wait follows libvirt's lifecycle events (delivered on the
caller's loop) and, in case an event is missed across a reconnect, re-reads
the state every :data:`RECHECK` seconds; each read is one short call in the
``libvirt`` pool.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from .._executors import run_in
from .errors import InvalidVMSpec

__all__ = ["MAX_WAIT", "RECHECK", "check_timeout", "wait_state"]

#: Longest wait (seconds) a user may ask for; beyond it use ``--no-wait``.
MAX_WAIT = 600.0
#: Seconds between state re-reads while waiting for events.
RECHECK = 1.0


def check_timeout(value: Any, what: str = "timeout", maximum: float = MAX_WAIT) -> float:
    """*value* as seconds, if finite and within ``[0, maximum]``."""
    try:
        seconds = float(value)
    except (TypeError, ValueError, OverflowError):
        seconds = math.nan
    if isinstance(value, bool) or not math.isfinite(seconds) or not 0 <= seconds <= maximum:
        shown = str(value) if len(str(value)) <= 40 else f"{str(value)[:40]}…"
        raise InvalidVMSpec(
            f"{what} must be a number of seconds from 0 to {maximum:g}, not {shown}. "
            'To not wait at all, ask without waiting (--no-wait, or "wait": false).',
            details={"field": what, "maximum": maximum},
        )
    return seconds


async def wait_state(manager: Any, name: str, states: tuple[str, ...], timeout: float) -> bool:
    """Await VM *name* (of *manager*, a :class:`~.manager.VMManager`) reaching *states*."""
    loop = asyncio.get_running_loop()
    changed = asyncio.Event()

    def on_event(event: Any) -> None:
        if event.vm == name or event.kind == "connection":
            changed.set()

    remove = manager.connection.add_listener(on_event, loop)
    try:
        deadline = loop.time() + timeout
        while True:
            changed.clear()
            state = await run_in("libvirt", manager.state, name)
            if state in states:
                return True
            left = deadline - loop.time()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(changed.wait(), min(left, RECHECK))
            except asyncio.TimeoutError:
                pass
    finally:
        remove()
