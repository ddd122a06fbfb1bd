"""A VM's serial port as a live byte stream, shared by every viewer.

Public API (stable):

- :class:`SerialRegistry` ``(connection_for)`` — one :class:`SerialSession` per VM
  (``registry.session(name)``, made on first use, on the calling asyncio loop);
  ``await registry.close()``.
- :class:`SerialSession` — ``attach(viewer)`` / ``detach(viewer)`` (a viewer is
  any object with ``on_output(bytes)`` and ``on_status(dict)``, called on the
  session's loop; a new viewer first gets the recent output, which starts
  with the tail of the serial log: what the guest printed before anyone watched), ``send(bytes)``,
  ``await output(since, wait) -> (bytes, start, end)`` for clients that poll
  (the kernel's ``Serial``), ``await ready(timeout)`` (wake the session and wait
  for its console to open), ``state`` (``connecting``, ``connected``,
  ``stopped``, ``error``, ``idle``), ``offset`` (bytes received so far).

The domain's first console is the pty serial port 0 that :mod:`..domain`
gives every new VM; :mod:`.serial_stream` opens it as a libvirt stream. When
the guest stops the stream ends; the session reopens it on the next
``started`` event (and when libvirt's connection comes back), so a viewer
keeps its place across reboots and restarts. The log file libvirt keeps beside
the pty (``<log file=...>``) is independent of this stream: it has everything,
whether or not anyone watched.

Idle sessions close their stream: :data:`IDLE_CLOSE` s after the last viewer
left and the last script call (``output``/``send``) ended, the console stream
is closed (state ``idle``), so an unwatched VM holds no console session in
libvirtd and another client (``virsh console``) may open it without forcing.
The next viewer or call opens it again, and the session first reads from the
log what the guest printed meanwhile (:mod:`.serial_log`): offsets go on, so a
``Serial`` script that read up to byte N gets what came after N.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

from ..connection import Connection
from ..errors import VMStateError
from ..events import EVENTS, VMEvent
from ..hosts.refs import split_ref
from .serial_stream import BACKLOG, ConsoleStream

__all__ = ["BACKLOG", "IDLE_CLOSE", "SerialRegistry", "SerialSession", "SerialViewer"]

log = logging.getLogger(__name__)

#: Seconds with no viewer and no script call before the console stream closes
#: (a page reload or the next ``expect`` comes back well within it).
IDLE_CLOSE = 10.0


class SerialViewer(Protocol):
    def on_output(self, data: bytes) -> None: ...

    def on_status(self, status: dict[str, Any]) -> None: ...


class SerialSession(ConsoleStream):
    """The serial port of one VM, opened once, fanned out to every viewer."""

    def __init__(
        self, connection: Connection, name: str, loop: asyncio.AbstractEventLoop,
        idle_close: float = IDLE_CLOSE,
    ) -> None:  # fmt: skip
        self.connection = connection
        self.name = name
        self.loop = loop
        self.idle_close = idle_close
        self.state = "connecting"
        self.message = ""
        self.offset = 0  # bytes received since the session began
        self._backlog = bytearray()
        self._viewers: list[SerialViewer] = []
        self._stream: Any = None
        self._pending = bytearray()  # input not yet taken by the stream
        self._changed = asyncio.Event()
        self._opening = False
        self._again = False  # a start arrived while opening: try once more
        self._seeded = False  # the backlog starts with the log file's tail
        # (domain id, log position, offset) when the stream opened, and (domain id,
        # log position) where the last one ended: what to read back from the log
        self._base: tuple[int, int, int] | None = None
        self._mark: tuple[int, int] | None = None
        self._asleep = False  # closed for idleness: the next use opens it again
        self._polls = 0  # script calls waiting for output
        self._used_at = loop.time()
        self._idle: asyncio.TimerHandle | None = None
        self._early = bytearray()  # input sent while the port was being opened
        self._ended_at = -1e9  # loop time our last stream ended
        self._taken = False  # another client took the console over: wait for a viewer
        self._closed = False
        self._retry: asyncio.TimerHandle | None = None
        self._unlisten = connection.add_listener(self._on_event, loop)
        self._open_soon()
        self._arm_idle()

    # ------------------------------------------------------------ viewers

    def attach(self, viewer: SerialViewer) -> None:
        self._touch()
        self._viewers.append(viewer)
        viewer.on_status(self.status())
        if self._backlog:
            viewer.on_output(bytes(self._backlog))
        if self._taken:  # a new viewer takes the console back
            self._taken = False
            self._open_soon()

    def detach(self, viewer: SerialViewer) -> None:
        with contextlib.suppress(ValueError):
            self._viewers.remove(viewer)
        if not self._viewers:
            self._touch()  # the grace period starts now

    def status(self) -> dict[str, Any]:
        return {"type": "status", "state": self.state, "message": self.message}

    def _set_state(self, state: str, message: str = "") -> None:
        if (state, message) == (self.state, self.message):
            return
        self.state, self.message = state, message
        log.debug("serial vm=%s state=%s %s", self.name, state, message)
        for v in list(self._viewers):
            self._safe(v.on_status, self.status())
        self._wake()

    def _deliver(self, data: bytes) -> None:
        self.offset += len(data)
        self._backlog += data
        if len(self._backlog) > BACKLOG:
            del self._backlog[: len(self._backlog) - BACKLOG]
        for v in list(self._viewers):
            self._safe(v.on_output, data)
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    @staticmethod
    def _safe(fn: Callable[[Any], None], arg: Any) -> None:
        try:
            fn(arg)
        except Exception:
            log.exception("serial viewer failed")

    async def output(self, since: int | None, wait: float = 0.0) -> tuple[bytes, int, int]:
        """Output after byte *since* (None: from now): ``(data, start, end)``.

        Waits up to *wait* s for some when there is none yet. Bytes older than
        the backlog are gone: *start* then says where the answer begins.
        """
        self._touch()
        if since is None or since > self.offset:
            since = self.offset
        if since == self.offset and wait > 0:
            self._polls += 1
            try:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), wait)
            finally:
                self._polls -= 1
                self._touch()
        first = self.offset - len(self._backlog)
        start = max(since, first)
        data = bytes(self._backlog[start - first :])
        return data, start, self.offset

    async def ready(self, timeout: float = 5.0) -> None:
        """Wake the session (someone uses it) and wait up to *timeout* s for an open
        on its way, so what the log caught up is in :meth:`output` already."""
        self._touch()
        end = self.loop.time() + timeout
        while (self._opening or self.state == "connecting") and self.loop.time() < end:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), end - self.loop.time())

    # ------------------------------------------------------------ idleness

    def _touch(self) -> None:
        """Someone uses the port: open it if it slept; the idle clock starts again."""
        self._used_at = self.loop.time()
        if self._asleep:
            self._asleep = False
            log.debug("serial vm=%s wakes", self.name)
            self._set_state("connecting")
            self._open_soon()
        self._arm_idle()

    def _arm_idle(self, delay: float | None = None) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if not (self._closed or self._asleep or self._viewers):
            self._idle = self.loop.call_later(
                self.idle_close if delay is None else delay, self._idle_check)  # fmt: skip

    def _idle_check(self) -> None:
        self._idle = None
        if self._closed or self._asleep or self._viewers:
            return
        left = self._used_at + self.idle_close - self.loop.time()
        if self._polls or self._opening or self._early:
            left = max(left, self.idle_close)  # in use now: look again later
        if left > 0:
            self._arm_idle(left)
            return
        self._asleep = True
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        stream, self._stream = self._stream, None
        self._set_mark()
        self._set_state("idle", f"closed after {self.idle_close:g} s with no viewer; "
                                "the next viewer opens it again")  # fmt: skip
        if stream is not None:
            EVENTS.ensure().call_soon_threadsafe(self._drop_stream, stream)

    def _set_mark(self) -> None:
        """Remember where in the log the stream stopped (the next open reads on from there)."""
        if self._base is not None:
            dom_id, pos, offset = self._base
            self._mark = (dom_id, pos + self.offset - offset)
            self._base = None

    # ------------------------------------------------------------ input

    def send(self, data: bytes) -> None:
        """Queue *data* for the guest's serial port (held while the port is being opened)."""
        self._touch()
        if self.state in ("connecting", "error") or self._opening:
            if len(self._early) + len(data) > BACKLOG:
                raise VMStateError(f"The serial port of VM {self.name!r} is not connected yet "
                                   f"({self.message or self.state}).", details={"name": self.name})
            self._early += data
            return
        if self.state != "connected":
            raise VMStateError(
                f"The serial port of VM {self.name!r} is not connected ({self.state}"
                f"{': ' + self.message if self.message else ''}). Start the VM first.",
                details={"name": self.name, "state": self.state},
            )
        EVENTS.ensure().call_soon_threadsafe(self._write, bytes(data))

    def _on_event(self, event: VMEvent) -> None:
        if event.kind == "connection" and event.event == "restored":
            self._stream = None
            self._set_mark()
            self._open_soon()
        elif event.vm == self.name and event.kind == "lifecycle":
            if event.event in ("started", "resumed"):
                self._open_soon()
            elif event.event == "undefined":
                self._set_state("stopped", "the VM was deleted")

    async def close(self) -> None:
        self._closed = True
        self._unlisten()
        for timer in (self._retry, self._idle):
            if timer is not None:
                timer.cancel()
        stream, self._stream = self._stream, None
        if stream is not None:
            # before returning, so a server started next can open the console at once
            await self.loop.run_in_executor(None, self._drop_stream, stream)


class SerialRegistry:
    """One :class:`SerialSession` per VM name, on the server's loop."""

    def __init__(
        self, connection_for: Callable[[str], Connection], idle_close: float = IDLE_CLOSE
    ) -> None:
        self._connection_for = connection_for
        self.idle_close = idle_close
        self._sessions: dict[str, SerialSession] = {}

    def session(self, name: str) -> SerialSession:
        s = self._sessions.get(name)
        if s is None or s._closed:
            loop = asyncio.get_running_loop()
            # *name* may be a ref (``?uri=``): libvirt is asked for the plain name
            s = self._sessions[name] = SerialSession(
                self._connection_for(name), split_ref(name)[0], loop, self.idle_close)
        return s

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for s in sessions:
            await s.close()
