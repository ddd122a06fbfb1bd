"""One client's pending events: coalesced per VM, bounded, never a backlog.

Public API: :class:`Subscriber` with ``put(msg)``, ``await get()``,
``close(reason)``, ``closed`` / ``reason``; :func:`coalesce_key`.

Why coalescing and not a queue: a client that reads slowly (a hidden tab, a
slow link) must get the *latest* state of each VM when it catches up, never
minutes of stale history, and the server must never wait for it. So pending
messages are kept in insertion order under a key per thing they describe (a
VM's life, a VM's tray device, its thumbnail, the env list, a host); a newer
message about the same thing replaces the pending one in its place, which
keeps every VM's messages in order. A client that is waiting for messages
(not ``busy`` writing one) gets the first :data:`KEEP_APART` of a burst as
they are; coalescing is for clients that are behind. The keys are bounded by what exists (VMs
x kinds), plus :data:`MAX_PENDING` as a guard: past it the client is closed
(1013) and, reconnecting, gets a fresh snapshot.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

#: Most distinct pending messages a client may have before it is dropped.
MAX_PENDING = 10_000
#: Messages kept apart (not merged) for a client that is waiting for more: a
#: burst (a VM defined then started in one breath) reaches a live client whole.
KEEP_APART = 8


def coalesce_key(msg: dict[str, Any], seq: int) -> Hashable:
    """What a message is about; messages with the same key replace each other."""
    kind = msg.get("type")
    uri, name = msg.get("uri"), msg.get("name")
    if kind in ("vm", "vm_defined", "vm_undefined"):
        return ("vm", uri, name)
    if kind == "media":
        return ("media", uri, name, msg.get("device"))
    if kind in ("thumbnail", "stats"):
        return (kind, uri, name)
    if kind in ("envs", "snapshot"):
        return (kind,)
    if kind == "host":
        return ("host", uri)
    return ("other", seq)  # unknown kinds are never merged


def merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The one message a client gets instead of *old* then *new*.

    A state change after a definition the client has not seen yet goes into
    the definition's record (the client would not know the VM otherwise).
    """
    if old.get("type") == "vm_defined" and new.get("type") == "vm":
        record = {**old.get("vm", {}), "state": new.get("state")}
        return {**old, "vm": record}
    return new


class Subscriber:
    """A client's pending messages (see the module docstring)."""

    def __init__(self, limit: int = MAX_PENDING) -> None:
        self._pending: OrderedDict[Hashable, dict[str, Any]] = OrderedDict()
        self._ready = asyncio.Event()
        self._seq = 0
        self.limit = limit
        self.closed = False
        self.reason = ""
        #: how many messages were merged into a pending one (tests, logs)
        self.coalesced = 0
        #: the consumer holds a message (writing it): newer ones coalesce meanwhile
        self.busy = False

    def __len__(self) -> int:
        return len(self._pending)

    def put(self, msg: dict[str, Any]) -> None:
        """Queue *msg* (never blocks; merges with a pending one about the same thing)."""
        if self.closed:
            return
        self._seq += 1
        apart = not self.busy and len(self._pending) < KEEP_APART
        key = ("now", self._seq) if apart else coalesce_key(msg, self._seq)
        old = self._pending.get(key)
        if old is not None:
            self._pending[key] = merge(old, msg)  # keeps its place: per-VM order holds
            self.coalesced += 1
        else:
            if len(self._pending) >= self.limit:
                self.close(f"more than {self.limit} events pending; reconnect for a snapshot")
                return
            self._pending[key] = msg
        self._ready.set()

    async def get(self) -> dict[str, Any] | None:
        """The oldest pending message; None once closed. Until the next call the
        subscriber is ``busy`` (its consumer is sending that message)."""
        self.busy = False
        while not self._pending:
            if self.closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        if self.closed:
            return None
        _key, msg = self._pending.popitem(last=False)
        self.busy = True
        return msg

    def close(self, reason: str = "") -> None:
        self.closed = True
        self.reason = self.reason or reason
        self._pending.clear()
        self._ready.set()
