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
  (the kernel's ``Serial``), ``state`` (``connecting``, ``connected``,
  ``stopped``, ``error``), ``offset`` (bytes received so far).

How: ``virDomainOpenConsole`` on a non-blocking libvirt stream; the stream's
readiness callbacks run on kernelswitch's libvirt event thread (libvirtaio,
:mod:`..events`) and hand the bytes to the session's loop, so nothing polls and
no thread waits. The domain's first console is the pty serial port 0 that
:mod:`..domain` gives every new VM. When the guest stops the stream ends; the
session reopens it on the next ``started`` event (and when libvirt's connection
comes back), so a viewer keeps its place across reboots and restarts. The
log file libvirt keeps beside the pty (``<log file=...>``) is independent of
this stream: it has everything, whether or not anyone watched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from typing import Any, Protocol

from ..connection import Connection, libvirt_module
from ..errors import VMStateError
from ..events import EVENTS, VMEvent
from ..hosts.refs import split_ref

__all__ = ["BACKLOG", "SerialRegistry", "SerialSession", "SerialViewer"]

log = logging.getLogger(__name__)

#: Bytes of recent output a session keeps for new viewers and pollers.
BACKLOG = 256 * 1024
#: Seconds between attempts to open the console of a running VM that refused.
RETRY_DELAY = 2.0
_READ = 64 * 1024


class SerialViewer(Protocol):
    def on_output(self, data: bytes) -> None: ...

    def on_status(self, status: dict[str, Any]) -> None: ...


class SerialSession:
    """The serial port of one VM, opened once, fanned out to every viewer."""

    def __init__(self, connection: Connection, name: str, loop: asyncio.AbstractEventLoop) -> None:
        self.connection = connection
        self.name = name
        self.loop = loop
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
        self._early = bytearray()  # input sent while the port was being opened
        self._ended_at = -1e9  # loop time our last stream ended
        self._taken = False  # another client took the console over: wait for a viewer
        self._closed = False
        self._retry: asyncio.TimerHandle | None = None
        self._unlisten = connection.add_listener(self._on_event, loop)
        self._open_soon()

    # ------------------------------------------------------------ viewers

    def attach(self, viewer: SerialViewer) -> None:
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
        if since is None or since > self.offset:
            since = self.offset
        if since == self.offset and wait > 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), wait)
        first = self.offset - len(self._backlog)
        start = max(since, first)
        data = bytes(self._backlog[start - first :])
        return data, start, self.offset

    def _seed(self, tail: bytes) -> None:
        """Start the backlog with the log's tail: a new viewer sees what came before us."""
        if not self._seeded and tail:
            self._deliver(tail)
        self._seeded = True

    # ------------------------------------------------------------ input

    def send(self, data: bytes) -> None:
        """Queue *data* for the guest's serial port (held while the port is being opened)."""
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

    # ------------------------------------------------------------ the stream
    # (_open runs in a worker thread; _on_stream and _write on the libvirt event thread)

    def _open_soon(self, delay: float = 0.0) -> None:
        if self._opening:
            self._again = True
            return
        if self._closed or self._stream is not None:
            return
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if delay:
            self._retry = self.loop.call_later(delay, self._open_soon)
            return
        self._opening = True
        # Someone else holds the console (virsh console, or our own stream of a
        # server that just stopped, still being torn down): take it over when
        # a viewer waits for it, as `virsh console --force` does.
        force = self.state == "error" and "console" in self.message and bool(
            self._viewers or self._early)
        self.loop.run_in_executor(None, self._open, force)

    def _open(self, force: bool = False) -> None:
        libvirt = libvirt_module()
        EVENTS.ensure()
        stream = None
        try:

            def open_console(conn: Any) -> Any:
                dom = conn.lookupByName(self.name)
                if not self._seeded:
                    self._from_thread(self._seed, _log_tail(dom.XMLDesc(0)))
                if not dom.isActive():
                    return None
                st = conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
                dom.openConsole(None, st, libvirt.VIR_DOMAIN_CONSOLE_FORCE if force else 0)
                return st

            stream = self.connection.call(open_console)
        except libvirt.libvirtError as e:
            msg = e.get_error_message() or str(e)
            if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                msg = f"there is no VM named {self.name!r}"
            self._from_thread(self._opened, None, "error", msg)
            return
        except Exception as e:  # libvirtd down: the connection's 'restored' event retries
            self._from_thread(self._opened, None, "error", str(e))
            return
        if stream is None:
            self._from_thread(self._opened, None, "stopped", "the VM is not running")
            return
        events = libvirt.VIR_STREAM_EVENT_READABLE | libvirt.VIR_STREAM_EVENT_ERROR
        events |= libvirt.VIR_STREAM_EVENT_HANGUP
        EVENTS.ensure().call_soon_threadsafe(self._watch, stream, events)

    def _watch(self, stream: Any, events: int) -> None:
        try:
            stream.eventAddCallback(events, self._on_stream, None)
        except Exception as e:
            with contextlib.suppress(Exception):
                stream.abort()
            self._from_thread(self._opened, None, "error", str(e))
            return
        self._from_thread(self._opened, stream, "connected", "")

    def _from_thread(self, fn: Callable[..., None], *args: Any) -> None:
        if not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(fn, *args)

    def _opened(self, stream: Any, state: str, message: str) -> None:
        self._opening = False
        again, self._again = self._again, False
        if self._closed and stream is not None:
            EVENTS.ensure().call_soon_threadsafe(self._drop_stream, stream)
            return
        self._stream = stream
        self._set_state(state, message)
        early, self._early = bytes(self._early), bytearray()
        if early and state == "connected":
            EVENTS.ensure().call_soon_threadsafe(self._write, early)
        if state == "error" and "console session" in message and (
            self.loop.time() - self._ended_at < 10 * RETRY_DELAY
        ):
            # our stream was just closed by someone who forced the console open
            # (`virsh console --force`, another server): do not fight over it
            self._taken = True
            self._set_state("error", "another client took the serial console over; "
                                     "open the terminal again to take it back")  # fmt: skip
        elif state == "error":
            self._open_soon(RETRY_DELAY)
        elif state == "stopped" and again:
            self._open_soon()

    def _on_stream(self, stream: Any, events: int, _opaque: Any) -> None:
        libvirt = libvirt_module()
        if events & libvirt.VIR_STREAM_EVENT_READABLE:
            while True:
                try:
                    data = stream.recv(_READ)
                except libvirt.libvirtError:
                    data = b""
                if data == -2:  # nothing more for now
                    break
                if not data:  # end of stream: the guest stopped
                    self._ended(stream)
                    return
                self._from_thread(self._deliver, bytes(data))
        if events & libvirt.VIR_STREAM_EVENT_WRITABLE:
            self._write(b"")
        if events & (libvirt.VIR_STREAM_EVENT_ERROR | libvirt.VIR_STREAM_EVENT_HANGUP):
            self._ended(stream)

    def _write(self, data: bytes) -> None:
        libvirt = libvirt_module()
        stream = self._stream
        self._pending += data
        if stream is None:
            self._pending.clear()
            return
        while self._pending:
            try:
                n = stream.send(bytes(self._pending[:_READ]))
            except libvirt.libvirtError:
                self._ended(stream)
                return
            if n == -2:
                break
            del self._pending[:n]
        events = libvirt.VIR_STREAM_EVENT_READABLE | libvirt.VIR_STREAM_EVENT_ERROR
        events |= libvirt.VIR_STREAM_EVENT_HANGUP
        if self._pending:
            events |= libvirt.VIR_STREAM_EVENT_WRITABLE
        with contextlib.suppress(Exception):
            stream.eventUpdateCallback(events)

    def _ended(self, stream: Any) -> None:
        self._drop_stream(stream)
        self._from_thread(self._stream_ended, stream)

    @staticmethod
    def _drop_stream(stream: Any) -> None:
        with contextlib.suppress(Exception):
            stream.eventRemoveCallback()
        with contextlib.suppress(Exception):
            stream.abort()

    def _stream_ended(self, stream: Any) -> None:
        if self._stream is stream:
            self._ended_at = self.loop.time()
            self._stream = None
            self._pending.clear()
            self._set_state("stopped", "the VM stopped")
            # a reboot that restarts QEMU brings a 'started' event; a missed one is
            # caught by trying again while the VM runs
            self._open_soon(RETRY_DELAY)

    def _on_event(self, event: VMEvent) -> None:
        if event.kind == "connection" and event.event == "restored":
            self._stream = None
            self._open_soon()
        elif event.vm == self.name and event.kind == "lifecycle":
            if event.event in ("started", "resumed"):
                self._open_soon()
            elif event.event == "undefined":
                self._set_state("stopped", "the VM was deleted")

    async def close(self) -> None:
        self._closed = True
        self._unlisten()
        if self._retry is not None:
            self._retry.cancel()
        stream, self._stream = self._stream, None
        if stream is not None:
            # before returning, so a server started next can open the console at once
            await self.loop.run_in_executor(None, self._drop_stream, stream)


def _log_tail(xml: str) -> bytes:
    """The last :data:`BACKLOG` bytes of the domain's serial log (empty if none/unreadable)."""
    from ..domain import parse_domain

    path = parse_domain(xml).get("serial_log")
    if not path:
        return b""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - BACKLOG))
            return f.read()
    except OSError:
        return b""


class SerialRegistry:
    """One :class:`SerialSession` per VM name, on the server's loop."""

    def __init__(self, connection_for: Callable[[str], Connection]) -> None:
        self._connection_for = connection_for
        self._sessions: dict[str, SerialSession] = {}

    def session(self, name: str) -> SerialSession:
        s = self._sessions.get(name)
        if s is None or s._closed:
            loop = asyncio.get_running_loop()
            # *name* may be a ref (``?uri=``): libvirt is asked for the plain name
            plain = split_ref(name)[0]
            s = self._sessions[name] = SerialSession(self._connection_for(name), plain, loop)
        return s

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for s in sessions:
            await s.close()
