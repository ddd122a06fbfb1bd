"""VM events and the thread libvirt dispatches them on.

Public API (stable; :mod:`.connection` re-exports :class:`VMEvent`):
:class:`VMEvent`, ``LIFECYCLE`` / ``TRAY`` (libvirt's event numbers as our
names), ``EVENTS`` (the one :class:`EventThread`: ``ensure()`` starts it and
returns its loop, ``wake()`` nudges it after a call from another thread).

Why a dedicated event thread: see :mod:`.connection`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from typing import Any

#: libvirt's virDomainEventType values.
LIFECYCLE = {
    0: "defined",
    1: "undefined",
    2: "started",
    3: "suspended",
    4: "resumed",
    5: "stopped",
    6: "shutdown",
    7: "pmsuspended",
    8: "crashed",
}
TRAY = {0: "opened", 1: "closed"}


@dataclasses.dataclass(frozen=True)
class VMEvent:
    """Something happened to a VM (or to the connection itself)."""

    kind: str  # 'lifecycle' | 'reboot' | 'tray' | 'connection'
    uri: str
    vm: str | None = None  # domain name; None for connection events
    event: str = ""  # e.g. 'started', 'stopped', 'opened', 'closed', 'lost', 'restored'
    detail: int | str | None = None
    device: str | None = None  # tray events: the device alias
    uuid: str | None = None  # lifecycle events: the domain's UUID (previews are kept by it)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ------------------------------------------------------------ event thread


class EventThread:
    """An asyncio loop in a daemon thread, with libvirtaio registered on it."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self.loop is not None:
                return self.loop
            from .connection import libvirt_module

            libvirt_module()
            import libvirtaio

            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                libvirtaio.virEventRegisterAsyncIOImpl(loop=loop)
                ready.set()
                loop.run_forever()

            t = threading.Thread(target=run, name="kernelswitch-libvirt-events", daemon=True)
            t.start()
            ready.wait()
            self.loop = loop
            return loop

    def wake(self) -> None:
        """Nudge the event loop after a call made in another thread.

        libvirt updates its socket watch and keepalive timer from the thread
        that made the call; libvirtaio then touches the loop without waking
        it, so a timer could wait for the next unrelated wakeup.
        """
        loop = self.loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(_noop)
            except RuntimeError:  # closed meanwhile
                pass


def _noop() -> None:
    pass


EVENTS = EventThread()
