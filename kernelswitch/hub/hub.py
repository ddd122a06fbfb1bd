"""The events hub: libvirt and env-list changes fanned out to subscribers.

Public API (stable):

- :class:`EventHub` ``(fleet, env_version=None)``: ``await start()`` (on the
  loop that will deliver events), ``subscribe() -> Subscriber``,
  ``unsubscribe(sub)``, ``await snapshot()``, ``publish(msg)``,
  ``running() -> [(uri, name)]``, ``stop()``.

Used by the server's events websocket and by ``kernelswitch vm watch`` (the
CLI drives libvirt directly, so it runs its own hub). No web imports here.

Why this shape: libvirt calls back on its own event thread
(:mod:`kernelswitch.vm.connection`), which hands each event to our loop in
order. A state change becomes a message at once, from the event alone (no
libvirt call, so the order libvirt reported is the order clients see); a
definition needs the VM's record, fetched in the ``libvirt`` pool. Messages
about one VM go through one chain (:meth:`_chain`) so a ``vm`` message never
overtakes the ``vm_defined`` before it. Each subscriber coalesces what it
has not sent yet (:mod:`.queue`): publishing never waits for a client.

The env watcher (:class:`kernelswitch.envs.EnvWatcher`) runs in a thread and
only bumps a number; the hub reads that number every :data:`ENV_CHECK` s (an
attribute read: nothing to measure) and publishes ``envs`` when it grew.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from ..vm.errors import HostError, VMError, VMNotFound
from ..vm.events import VMEvent
from .messages import host_message, lifecycle_message, tray_message
from .queue import Subscriber

log = logging.getLogger(__name__)

#: Seconds between two looks at the env watcher's generation.
ENV_CHECK = 0.5
#: States in which a VM has a screen (thumbnails are taken of these).
LIVE = ("running", "blocked", "paused", "shutting-down")

Step = Callable[[], "Awaitable[None] | None"]


class EventHub:
    """See the module docstring."""

    def __init__(self, fleet: Any, env_version: Callable[[], int] | None = None) -> None:
        self.fleet = fleet
        self.managers = {m.uri: m for m in fleet.managers}
        self.env_version = env_version or (lambda: 0)
        self.subscribers: set[Subscriber] = set()
        #: what the hub knows of each VM: {(uri, name): {"state", "persistent"}}
        self.known: dict[tuple[str, str], dict[str, Any]] = {}
        self.hosts: dict[str, dict[str, Any]] = {}
        self._chains: dict[tuple[str, str], deque[Step]] = {}
        self._removers: list[Callable[[], None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._env_seen = 0
        self._started: asyncio.Future[None] | None = None
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        #: called with every VM record before it goes out (snapshot, vm_defined)
        self.record_hook: Callable[[dict[str, Any]], None] = lambda record: None

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Subscribe to every URI (once; later callers wait for the first)."""
        if self._started is None:
            self._started = asyncio.ensure_future(self._start())
        try:
            await asyncio.shield(self._started)
        except Exception:
            self._started = None  # the next client tries again (libvirt may be back)
            for remove in self._removers:
                remove()
            self._removers.clear()
            raise

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        for manager in self.managers.values():
            # add_listener opens the connection when needed: that blocks
            remove = await asyncio.to_thread(manager.connection.add_listener, self._on_event, loop)
            self._removers.append(remove)
        await self._list_all()
        self._env_seen = self.env_version()
        self._spawn(self._watch_envs())

    def stop(self) -> None:
        for remove in self._removers:
            remove()
        self._removers.clear()
        for t in self._tasks:
            t.cancel()
        for sub in list(self.subscribers):
            sub.close("the server is stopping")

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ subscribers

    def subscribe(self) -> Subscriber:
        sub = Subscriber()
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
        sub.close()

    def publish(self, msg: dict[str, Any]) -> None:
        """Hand *msg* to every subscriber (never waits)."""
        self._remember(msg)
        for sub in list(self.subscribers):
            sub.put(msg)
            if sub.closed:
                self.subscribers.discard(sub)
        for cb in list(self.listeners):
            cb(msg)

    async def snapshot(self) -> dict[str, Any]:
        """Every VM of every URI (as ``GET vms`` gives them), env version, hosts."""
        records = await self._list_all()
        return {
            "type": "snapshot",
            "vms": records,
            "envs_version": self.env_version(),
            "hosts": [
                {k: v for k, v in self.hosts[uri].items() if k != "type"}
                for uri in self.managers
                if uri in self.hosts
            ],
        }

    def running(self) -> list[tuple[str, str]]:
        """The VMs that have a screen now, as (uri, name)."""
        return [key for key, v in self.known.items() if v.get("state") in LIVE]

    # ------------------------------------------------------------ state

    async def _list_all(self) -> list[dict[str, Any]]:
        """Fresh records of every URI; ``known`` learns VMs it had not seen
        (silently: events in flight may be newer than this list)."""
        records: list[dict[str, Any]] = []
        board = getattr(self.fleet, "board", None)  # every host at once, a deadline each
        answers = await asyncio.to_thread(board.ask, lambda m: m.list()) if board else {}
        for uri, manager in self.managers.items():
            try:
                some = answers[uri] if board else await manager.aio(manager.list)
                if isinstance(some, HostError):
                    raise some
            except HostError as e:
                self.hosts[uri] = host_message(uri, False, e.message)
                continue
            self.hosts[uri] = host_message(uri, True)
            for r in some:
                r["uri"] = uri
                self.record_hook(r)
                self.known.setdefault((uri, r["name"]), _known(r))
            records += some
        return records

    def _resync(self, uri: str, records: list[dict[str, Any]]) -> None:
        """After a reconnect: tell subscribers what changed while the link was down."""
        fresh = {(uri, r["name"]): r for r in records}
        for key in [k for k in self.known if k[0] == uri and k not in fresh]:
            self.publish({"type": "vm_undefined", "name": key[1], "uri": uri})
        for key, rec in fresh.items():
            old = self.known.get(key)
            if old is None:
                rec["uri"] = uri
                self.record_hook(rec)
                self.publish({"type": "vm_defined", "name": key[1], "uri": uri, "vm": rec})
            elif old.get("state") != rec["state"]:
                self.publish({"type": "vm", "name": key[1], "uri": uri, "state": rec["state"],
                              "reason": "changed while disconnected"})  # fmt: skip

    def _remember(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        key = (msg.get("uri", ""), msg.get("name", ""))
        if kind == "vm":
            self.known.setdefault(key, {"persistent": True})["state"] = msg["state"]
        elif kind == "vm_defined":
            vm = msg.get("vm", {})
            self.known[key] = _known(vm)
        elif kind == "vm_undefined":
            self.known.pop(key, None)
        elif kind == "host":
            self.hosts[msg["uri"]] = msg

    # ------------------------------------------------------------ libvirt events

    def _on_event(self, event: VMEvent) -> None:
        """On our loop, in libvirt's order."""
        if event.kind == "connection":
            up = event.event == "restored"
            self.publish(host_message(event.uri, up, "" if up else "libvirt connection lost"))
            if up:
                self._spawn(self._after_restore(event.uri))
            return
        if event.vm is None:
            return
        key = (event.uri, event.vm)
        if event.kind == "tray":
            self._chain(key, lambda: self._tray(event))
        elif event.event in ("defined", "undefined"):
            self._chain(key, lambda: self._definition(event))
        else:
            vm_msg = lifecycle_message(event)
            if vm_msg is not None:
                self._chain(key, lambda: self.publish(vm_msg))
            transient = not self.known.get(key, {}).get("persistent", True)
            if event.event == "stopped" and transient:  # a transient VM is gone when off
                self._chain(key, lambda: self._definition(event))

    def _tray(self, event: VMEvent) -> Awaitable[None] | None:
        """The tray message, naming the drive by its target (``sda``) as records
        do; libvirt names it by its alias (``sata0-0-0``), learnt from the VM's
        record (read once when the alias is new: a VM started since)."""
        drives = self.known.get((event.uri, event.vm or ""), {}).get("drives", {})
        if event.device in drives:
            self.publish(tray_message(event, drives[event.device]))
            return None
        return self._tray_after_lookup(event)

    async def _tray_after_lookup(self, event: VMEvent) -> None:
        manager, name = self.managers[event.uri], event.vm or ""
        target = event.device
        try:
            record = await manager.aio(manager.info, name)
        except (HostError, VMError) as e:
            log.debug("kernelswitch events: no record of %s for its tray: %s", name, e)
        else:
            drives = _drives(record)
            self.known.setdefault((event.uri, name), _known(record))["drives"] = drives
            target = drives.get(event.device or "", target)
        self.publish(tray_message(event, target))

    async def _after_restore(self, uri: str) -> None:
        manager = self.managers[uri]
        try:
            self._resync(uri, await manager.aio(manager.list))
        except HostError as e:
            log.debug("kernelswitch events: %s not listable after restore: %s", uri, e)

    async def _definition(self, event: VMEvent) -> None:
        """vm_defined with the fresh record, or vm_undefined when it is gone."""
        manager = self.managers[event.uri]
        name = str(event.vm)
        try:
            record = await manager.aio(manager.info, name)
        except VMNotFound:
            if (event.uri, name) in self.known or event.event != "defined":
                self.publish({"type": "vm_undefined", "name": name, "uri": event.uri})
            return
        except HostError as e:
            log.debug("kernelswitch events: no record of %s: %s", name, e)
            return
        self.record_hook(record)
        self.publish({"type": "vm_defined", "name": name, "uri": event.uri, "vm": record})

    def _chain(self, key: tuple[str, str], step: Step) -> None:
        """Run *step* after the VM's earlier steps (sync steps run now when idle)."""
        queue = self._chains.get(key)
        if queue is not None:
            queue.append(step)
            return
        out = step()
        if out is None:
            return
        self._chains[key] = deque()
        self._spawn(self._drain(key, out))

    async def _drain(self, key: tuple[str, str], first: Awaitable[None]) -> None:
        queue = self._chains[key]
        out: Awaitable[None] | None = first
        try:
            while True:
                try:
                    if out is not None:
                        await out
                except Exception:
                    log.exception("kernelswitch events: handling an event of %s failed", key)
                if not queue:
                    break
                out = queue.popleft()()
        finally:
            self._chains.pop(key, None)

    # ------------------------------------------------------------ env list

    async def _watch_envs(self) -> None:
        while True:
            await asyncio.sleep(ENV_CHECK)
            version = self.env_version()
            if version != self._env_seen:
                self._env_seen = version
                self.publish({"type": "envs", "version": version})


def _known(record: dict[str, Any]) -> dict[str, Any]:
    return {"state": record.get("state"), "persistent": record.get("persistent", True),
            "drives": _drives(record)}  # fmt: skip


def _drives(record: dict[str, Any]) -> dict[str, str]:
    """A record's CD/DVD drives: alias -> target."""
    return {m["alias"]: m["target"] for m in record.get("media") or [] if m.get("alias")}
