"""Commit a ``%pyenv switch`` the moment its cell ends, and move the cells
queued behind it (Run All) to the new kernel.

Why not "when the kernel is idle" (the fallback, :meth:`Switcher._commit_when_idle`):
with Run All every cell's execute_request is already in the old kernel's
queue when the magic runs, so the kernel is never idle in between and the
queued cells would run in the old env, their replies lost with it. Instead
(the server's websocket layer provides the ``claim``, see
``kernelswitch.server.kernel_swap.Claim``):

1. at the "pending" answer the server holds new input and lists the
   execute_requests queued behind the cell; the magic makes the old kernel
   drop exactly those (each once: a second copy runs);
2. right after the cell's reply and idle status went to the browser — inside
   that callback, so nothing of the next cell from the old kernel is
   forwarded — the candidate is swapped in (synchronously, as ``_swap``);
3. once the new iopub delivers, the queued requests are sent again, in
   order, to the new kernel, then what was held meanwhile.

If the swap cannot happen (the candidate died, the cell did not end within
the switch timeout), the queued requests go again to the old kernel — it
drops the first copy and runs the second — and the first of those cells (or
the next one the user runs) says why the switch did not happen. If the old
kernel dies while its cell runs, the candidate takes over right away.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ._candidate import discard, retire

#: How often the old kernel is checked for being alive while its cell runs.
_ALIVE_EVERY = 0.5


async def commit_at_cell_end(switcher: Any, kernel_id: str, km: Any, timeout: float,
                             prepared: tuple, claim: Any) -> None:
    _, cand, prov, target, t0 = prepared
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[Any] = loop.create_future()

    def at_end() -> None:  # synchronous: called from the websocket's callback
        if ended.done():
            return
        if prov.process is None or prov.process.poll() is not None:
            ended.set_result(None)  # the candidate died while the cell ran
            return
        try:
            ended.set_result(switcher._swap(kernel_id, km, cand, prov))
        except Exception as e:  # reported below, the old kernel stays
            ended.set_exception(e)

    claim.on_cell_end(at_end)
    note = None
    try:
        swapped = await _wait(km, ended, at_end, timeout)
        claim.on_cell_end(None)
        if km.autorestart:
            km.start_restarter()
        if swapped is None or isinstance(swapped, BaseException):
            why = (f"{swapped}" if isinstance(swapped, BaseException) else
                   "the new kernel exited before the cell ended" if ended.done() else
                   f"the cell that asked for it ran longer than {timeout:g} s")
            note = (f"kernelswitch: the switch to {target.prefix} did not happen ({why}); "
                    "this kernel keeps running where it was. Run %pyenv switch again.")
            switcher.log.warning("kernelswitch: kernel %s: %s", kernel_id, note)
            await discard(cand)
            return
        old, connected = swapped
        switcher._spawn(retire(*old))
        if connected:  # the queued cells' output must not be lost to a slow joiner
            await asyncio.wait([asyncio.ensure_future(f) for f in connected], timeout=10)
        switcher.log.info("kernelswitch: kernel %s now runs in %s (%s) after %.2f s; %d "
                          "queued request(s) moved", kernel_id, target.prefix, target.mode,
                          time.monotonic() - t0, len(claim.queued))
    finally:
        switcher._busy.discard(kernel_id)
        claim.finish(note)


async def _wait(km: Any, ended: asyncio.Future[Any], at_end: Any, timeout: float) -> Any:
    """The swap's result, ``None`` (no swap), or the exception the swap raised."""
    deadline = time.monotonic() + timeout
    while not ended.done():
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            await asyncio.wait_for(asyncio.shield(ended), min(_ALIVE_EVERY, left))
        except TimeoutError:
            try:
                alive = await km.is_alive()
            except Exception:  # cannot tell: keep waiting
                alive = True
            if not alive:  # the old kernel died mid-cell: the candidate takes over
                at_end()
        except Exception:  # the swap raised; ended holds it
            break
    return ended.exception() or ended.result()
