"""The hub and the thumbnails together, as the server runs them.

Public API: :class:`EventService` ``(fleet, env_version, sessions)`` with
``hub``, ``thumbnails``, ``await start()``, ``await snapshot()``,
``set_visible(who, on)``, ``watch_stats(who, sub, on)``, ``stats``
(:class:`~kernelswitch.vm.stats.StatsSampler`), ``stop()``.

Why a separate object: the hub knows nothing of consoles, the thumbnails know
nothing of subscribers; this joins them (the hub's known states say which VMs
run, a stopped VM's preview is announced, visibility is counted per client).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..console.thumbnails import Thumbnails
from ..vm.stats import StatsSampler
from .hub import LIVE, EventHub


class EventService:
    """See the module docstring."""

    def __init__(
        self,
        fleet: Any,
        env_version: Callable[[], int] | None = None,
        sessions: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.hub = EventHub(fleet, env_version)
        self.thumbnails = Thumbnails(fleet, self.hub.running, sessions or dict, self.hub.publish)
        self.hub.listeners.append(self._on_message)
        self.hub.record_hook = self._with_thumbnail
        self._visible: set[object] = set()
        #: live stats, sampled only while a client (websocket or REST) watches
        self.stats = StatsSampler(lambda: self.hub.managers, publish=self._on_stats)
        self._stats_subs: dict[object, Any] = {}

    async def start(self) -> None:
        await self.hub.start()

    async def snapshot(self) -> dict[str, Any]:
        return await self.hub.snapshot()

    def _with_thumbnail(self, record: dict[str, Any]) -> None:
        """Every record the hub sends says its ``thumbnail_version``."""
        record["thumbnail_version"] = self.thumbnails.version(record["uri"], record["name"])

    def set_visible(self, who: object, on: bool) -> None:
        """Client *who* shows thumbnails (or stopped): take them while anyone does."""
        if on:
            self._visible.add(who)
        else:
            self._visible.discard(who)
        self.thumbnails.set_visible(bool(self._visible))

    def watch_stats(self, who: object, sub: Any, on: bool) -> None:
        """Client *who* (its hub subscriber *sub*) wants stats pushed, or no more."""
        if on:
            self._stats_subs[who] = sub
            self.stats.watch(who)
        else:
            self._stats_subs.pop(who, None)
            self.stats.unwatch(who)

    def _on_stats(self, uri: str, name: str, sample: dict[str, Any]) -> None:
        msg = {"type": "stats", "name": name, "uri": uri, "sample": sample}
        for sub in list(self._stats_subs.values()):
            sub.put(msg)  # only to those who asked; the latest per VM if one is slow

    def _on_message(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "vm" and msg.get("state") not in LIVE:
            self.thumbnails.stopped(msg["uri"], msg["name"])
        elif kind == "vm_undefined":
            self.thumbnails.forget(msg["uri"], msg["name"])

    def stop(self) -> None:
        self.stats.stop()
        self.thumbnails.stop()
        self.hub.stop()
