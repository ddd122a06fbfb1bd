"""Commit a ``%pyenv switch`` the moment its cell ends, and move the cells
queued behind it (Run All) to the new kernel.

Why not "when the kernel is idle" (the fallback, :func:`commit_when_idle`):
with Run All every cell's execute_request is already in the old kernel's
queue when the magic runs, so the kernel is never idle in between and the
queued cells would run in the old env, their replies lost with it. Instead
(the server's websocket layer provides the ``claim``, see
``kernelswitch.server.kernel_swap.Claim``):

1. at the "pending" answer the server holds new input and lists the
   execute_requests queued behind the cell; the magic makes the old kernel
   drop their first copy and says so in its execute_reply (a ``kernelswitch``
   payload, which front ends ignore);
2. right after the cell's reply and idle status went to the browser — inside
   that callback, so nothing of the next cell from the old kernel is
   forwarded — the candidate is swapped in (synchronously, as ``_swap``);
3. once the new iopub delivers, the queued requests are sent again, in
   order and marked as copies, to the new kernel, then what was held.

The swap happens only if the cell ended ``ok`` with that payload. Otherwise
the old kernel keeps running and the first cell after says why:

- no payload (the magic was interrupted before it could arm the drop): the
  queued cells run in the old kernel as they are; nothing is sent again;
- the cell failed after the magic: with ``stop_on_error`` the old kernel
  aborts the queued cells itself (what users expect); without it, and
  whenever the candidate died or the cell outlasted the switch timeout,
  the queued requests go again to the old kernel — it drops the first copy
  and runs the marked one, so each runs once and in order.

If the old kernel dies while its cell runs, the candidate takes over at once.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from ._candidate import discard, retire

#: How often the old kernel is checked for being alive while its cell runs.
_ALIVE_EVERY = 0.5
#: The execute_reply payload ``source`` the magic adds once it armed the drop.
PAYLOAD_SOURCE = "kernelswitch"


@dataclass
class _End:
    swapped: Any = None  # (old, connected) from _swap
    resend: bool = True
    why: str = ""


async def commit_at_cell_end(switcher: Any, kernel_id: str, km: Any, timeout: float,
                             prepared: tuple, claim: Any) -> None:
    _, cand, prov, target, t0 = prepared
    ended: asyncio.Future[_End] = asyncio.get_running_loop().create_future()
    state = {"discarded": False}

    def at_end(reply: dict[str, Any] | None) -> bool:
        """Synchronous, from the websocket's callback; ``None``: the old kernel died."""
        if ended.done():
            return False
        armed = reply is None or any(isinstance(p, dict) and p.get("source") == PAYLOAD_SOURCE
                                     for p in reply.get("payload") or [])
        ok = reply is None or reply.get("status") == "ok"
        end = _End(resend=armed and (ok or not claim.stop_on_error))
        if not armed:
            end.why = "the cell was interrupted before the switch was set up"
        elif not ok:
            end.why = "the cell that asked for it failed"
        elif state["discarded"]:
            end.why = f"the cell that asked for it ran longer than {timeout:g} s"
        elif prov.process is None or prov.process.poll() is not None:
            end.why = "the new kernel exited before the cell ended"
        else:
            try:
                end.swapped = switcher._swap(kernel_id, km, cand, prov)
            except Exception as e:  # the old kernel stays; said below
                end.why = f"{type(e).__name__}: {e}"
        if end.swapped is None:
            claim.keep_old(end.resend)
        ended.set_result(end)
        return end.swapped is not None

    def gone() -> None:  # the tab closed: its cell's end will never pass by
        if not ended.done():
            claim.keep_old(True)
            ended.set_result(_End(why="the notebook's websocket closed"))

    claim.on_cell_end(at_end)
    end = _End(resend=False)
    try:
        if not await _wait(km, ended, at_end, timeout, claim, gone):
            # the switch will not happen; the queue stays in order until the cell ends
            state["discarded"] = True
            await discard(cand)
            if km.autorestart:
                km.start_restarter()
            await _wait(km, ended, at_end, None, claim, gone)
        end = ended.result()
        if km.autorestart:
            km.start_restarter()
        if end.swapped is None:
            switcher.log.warning("kernelswitch: kernel %s: switch to %s dropped: %s",
                                 kernel_id, target.prefix, end.why)
            if not state["discarded"]:
                await discard(cand)
            return
        old, connected = end.swapped
        switcher._spawn(retire(*old))
        if connected:  # the queued cells' output must not be lost to a slow joiner
            await asyncio.wait([asyncio.ensure_future(f) for f in connected], timeout=10)
        switcher.log.info("kernelswitch: kernel %s now runs in %s (%s) after %.2f s; %d "
                          "queued request(s) moved", kernel_id, target.prefix, target.mode,
                          time.monotonic() - t0, len(claim.queued))
    finally:
        switcher._busy.discard(kernel_id)
        claim.on_cell_end(None)
        note = None if end.swapped is not None or not end.why else (
            f"kernelswitch: the switch to {target.prefix} did not happen ({end.why}); this "
            "kernel keeps running where it was. Run %pyenv switch again.")
        claim.finish(end.swapped is not None, end.resend, note)


async def commit_when_idle(switcher: Any, kernel_id: str, km: Any, timeout: float,
                           prepared: tuple, release: Any) -> None:
    """The fallback: swap once the kernel is idle (another websocket class, an
    ipykernel without ``shell_handlers``, a client that is not a browser tab)."""
    cand = prepared[1]
    try:
        deadline = time.monotonic() + timeout
        while getattr(km, "execution_state", "idle") == "busy":
            if time.monotonic() > deadline:
                switcher.log.warning("kernelswitch: kernel %s stayed busy; switch to %s "
                                     "dropped", kernel_id, prepared[3].prefix)
                await discard(cand)
                if km.autorestart:
                    km.start_restarter()
                return
            await asyncio.sleep(0.02)
        await switcher._commit(kernel_id, km, *prepared)
    finally:
        switcher._busy.discard(kernel_id)
        if release is not None:
            release()  # what arrived meanwhile goes to the kernel that runs now


async def _wait(km: Any, ended: asyncio.Future[Any], at_end: Any, timeout: float | None,
                claim: Any, gone: Any) -> bool:
    """Whether the cell ended within ``timeout``; forces the end if the old kernel
    died, gives up if the websocket that carried the cell closed."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while not ended.done():
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return False
        try:
            await asyncio.wait_for(asyncio.shield(ended), min(_ALIVE_EVERY, left or _ALIVE_EVERY))
        except TimeoutError:
            try:
                alive = await km.is_alive()
            except Exception:  # cannot tell: keep waiting
                alive = True
            if not alive:  # the old kernel died mid-cell: the candidate takes over
                at_end(None)
            elif claim.owner_gone():
                gone()
    return True
