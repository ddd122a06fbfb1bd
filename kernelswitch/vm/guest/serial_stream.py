"""The libvirt console stream under a :class:`~.serial.SerialSession`.

How: ``virDomainOpenConsole`` on a non-blocking libvirt stream, opened in a
worker thread; the stream's readiness callbacks run on kernelswitch's libvirt
event thread (libvirtaio, :mod:`..events`) and hand the bytes to the session's
loop, so nothing polls and no thread waits. Before each open the log file is
read for what the stream cannot give (:mod:`.serial_log`). Threads:
``_open`` and ``_read_back`` run in a worker, ``_on_stream``, ``_write`` and
``_watch`` on the libvirt event thread, everything else on the session's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from ..connection import Connection, libvirt_module
from ..events import EVENTS
from .serial_log import log_path, log_size, read_log

__all__ = ["BACKLOG", "RETRY_DELAY", "ConsoleStream"]

#: Bytes of recent output a session keeps for new viewers and pollers.
BACKLOG = 256 * 1024
#: Seconds between attempts to open the console of a running VM that refused.
RETRY_DELAY = 2.0
_READ = 64 * 1024


class ConsoleStream:
    """Opening, reading and writing the console stream; the session's other half."""

    # set by SerialSession.__init__
    connection: Connection
    name: str
    loop: asyncio.AbstractEventLoop
    state: str
    message: str
    offset: int
    _stream: Any
    _pending: bytearray
    _opening: bool
    _again: bool
    _seeded: bool
    _base: tuple[int, int, int] | None
    _mark: tuple[int, int] | None
    _early: bytearray
    _ended_at: float
    _taken: bool
    _closed: bool
    _asleep: bool
    _viewers: list[Any]
    _retry: asyncio.TimerHandle | None

    def _set_state(self, state: str, message: str = "") -> None:
        raise NotImplementedError

    def _deliver(self, data: bytes) -> None:
        raise NotImplementedError

    def _wake(self) -> None:
        raise NotImplementedError

    def _set_mark(self) -> None:
        raise NotImplementedError

    def _open_soon(self, delay: float = 0.0) -> None:
        if self._opening:
            self._again = True
            return
        if self._closed or self._asleep or self._stream is not None:
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
        read: list[bool] = []  # once, though a lost connection makes call() run it again
        try:

            def open_console(conn: Any) -> Any:
                dom = conn.lookupByName(self.name)
                path = log_path(dom.XMLDesc(0))
                active = dom.isActive()
                if not read:
                    read.append(True)
                    self._read_back(path, dom.ID() if active else -1)
                if not active:
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

    def _read_back(self, path: str | None, dom_id: int) -> None:
        """Deliver from the log what the stream did not: the tail before the first
        open, and what the guest printed while no stream was open (worker thread)."""
        size = log_size(path)
        data, skipped = b"", 0
        if path is not None and size is not None:
            mark = self._mark
            if not self._seeded:
                data = read_log(path, 0, size, BACKLOG)[0]  # history, not missed output
            elif dom_id == -1:
                pass  # stopped: its log was read while it ran; the next boot's is new
            elif mark is not None and mark[0] == dom_id and mark[1] <= size:
                data, skipped = read_log(path, mark[1], size, BACKLOG)
            elif mark is not None:  # a new boot (a restart): a new log, whole
                data, skipped = read_log(path, 0, size, BACKLOG)
        self._from_thread(self._read_back_done, data, skipped, dom_id, size)

    def _read_back_done(self, data: bytes, skipped: int, dom_id: int, size: int | None) -> None:
        self._seeded = True
        self.offset += skipped
        if data:
            self._deliver(data)
        if dom_id == -1:  # stopped: the next boot's log is all new
            self._base, self._mark = None, (-1, 0)
        elif size is not None:
            self._base, self._mark = (dom_id, size, self.offset), None

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
        if stream is None:
            self._set_mark()
        self._set_state(state, message)
        self._wake()  # ready() waits for this open, whatever its state
        # what was typed while it opened: written now; kept through a failed
        # attempt that is tried again (typed keys are not lost to a retry)
        if state == "connected" and self._early:
            early, self._early = bytes(self._early), bytearray()
            EVENTS.ensure().call_soon_threadsafe(self._write, early)
        elif state != "error":
            self._early = bytearray()
        if state == "error" and "console session" in message and (
            self.loop.time() - self._ended_at < 10 * RETRY_DELAY
        ):
            # our stream was just closed by someone who forced the console open
            # (`virsh console --force`, another server): do not fight over it
            self._taken = True
            self._early = bytearray()
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
            self._set_mark()
            self._pending.clear()
            self._set_state("stopped", "the VM stopped")
            # a reboot that restarts QEMU brings a 'started' event; a missed one is
            # caught by trying again while the VM runs
            self._open_soon(RETRY_DELAY)
