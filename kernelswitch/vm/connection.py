"""One libvirt connection per URI, kept alive, reopened when it drops.

Public API (stable):

- :func:`get_connection` ``(uri) -> Connection`` — the process-wide connection
  object for *uri* (made on first use).
- :class:`Connection` — ``.conn()`` returns an open ``virConnect`` (reopening a
  dead one), ``.call(fn)`` runs ``fn(virConnect)`` and retries once when the
  daemon went away mid-call, ``.acall(fn)`` does the same in the bounded
  ``libvirt`` pool (:mod:`kernelswitch._executors`) for asyncio code,
  ``add_listener(cb, loop=None)`` subscribes to
  :class:`VMEvent`\\ s (lifecycle, reboot, tray, connection up/down).

Why a dedicated event thread: libvirt's event implementation is process-wide
and can be registered only once, while a Jupyter process (and a test session)
may run several asyncio loops one after the other. So ``libvirtaio`` is
registered on an asyncio loop that kernelswitch runs in its own daemon thread,
before the first connection is opened; keepalive, the close callback and domain
events are dispatched there, and each listener is called back on the loop it
subscribed from (``call_soon_threadsafe``), never blocking the server's loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from .errors import HostError
from .events import EVENTS, LIFECYCLE, TRAY, VMEvent

__all__ = [
    "DEFAULT_URI",
    "Connection",
    "VMEvent",
    "close_all",
    "get_connection",
    "is_connection_error",
    "is_pool_busy",
    "libvirt_module",
]

log = logging.getLogger(__name__)

DEFAULT_URI = "qemu:///session"
#: Keepalive: a ping every KEEPALIVE_INTERVAL s; the link is declared dead
#: after KEEPALIVE_COUNT unanswered pings (libvirt's own defaults are 5 and 5).
KEEPALIVE_INTERVAL = 5
KEEPALIVE_COUNT = 3
#: Seconds between reconnect attempts after the daemon went away (doubles up to the max).
RECONNECT_DELAY = 0.5
RECONNECT_MAX_DELAY = 10.0
#: Seconds a call waits out a storage pool busy with someone else's volume job.
POOL_BUSY_WAIT = 10.0
POOL_BUSY_POLL = 0.2

T = TypeVar("T")
_Listener = tuple[Callable[["VMEvent"], Any], "asyncio.AbstractEventLoop | None"]

_QUIET = False


def libvirt_module() -> Any:
    """Import libvirt lazily; a missing binding is a host problem with a fix."""
    try:
        import libvirt
    except ImportError as e:
        msg = (
            "The libvirt Python binding is missing. Install it with "
            "`pip install libvirt-python` (needs the Debian packages libvirt-dev and pkg-config)."
        )
        raise HostError(msg) from e
    global _QUIET
    if not _QUIET:
        # libvirt prints every error to stderr by default; ours are raised instead.
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
        _QUIET = True
    return libvirt


_CONNECTIONS: dict[str, Connection] = {}
_CONNECTIONS_LOCK = threading.Lock()


def get_connection(uri: str = DEFAULT_URI) -> Connection:
    """The shared :class:`Connection` for *uri* (not opened until first used)."""
    with _CONNECTIONS_LOCK:
        c = _CONNECTIONS.get(uri)
        if c is None:
            c = _CONNECTIONS[uri] = Connection(uri)
        return c


def close_all() -> None:
    """Close every shared connection (listeners stay subscribed; next use reopens)."""
    with _CONNECTIONS_LOCK:
        conns = list(_CONNECTIONS.values())
    for c in conns:
        c.close()


def is_pool_busy(err: BaseException) -> bool:
    """Whether a libvirtError says a storage pool has another client's job running."""
    libvirt = libvirt_module()
    return isinstance(err, libvirt.libvirtError) and "asynchronous jobs running" in str(err)


def is_connection_error(err: BaseException) -> bool:
    """Whether a libvirtError means the link to the daemon is gone (worth a reconnect)."""
    libvirt = libvirt_module()
    if not isinstance(err, libvirt.libvirtError):
        return False
    code = err.get_error_code()
    domain = err.get_error_domain()
    if code in (
        libvirt.VIR_ERR_NO_CONNECT,
        libvirt.VIR_ERR_INVALID_CONN,
        libvirt.VIR_ERR_RPC,
        libvirt.VIR_ERR_AUTH_CANCELLED,
    ):
        return code != libvirt.VIR_ERR_AUTH_CANCELLED
    if domain in (libvirt.VIR_FROM_RPC, libvirt.VIR_FROM_REMOTE):
        return True
    text = str(err).lower()
    return "client socket is closed" in text or "connection reset" in text or "broken pipe" in text


# -------------------------------------------------------------- connection


class Connection:
    """A libvirt connection to one URI that reopens itself.

    Thread-safe: blocking calls may come from any worker thread. The server
    calls :meth:`acall` (runs in the ``libvirt`` pool); the CLI and tests call
    :meth:`call` directly.
    """

    def __init__(self, uri: str = DEFAULT_URI) -> None:
        self.uri = uri
        self._conn: Any = None
        self._lock = threading.RLock()
        self._callback_ids: list[int] = []
        self._listeners: list[_Listener] = []
        self._reconnect_delay = RECONNECT_DELAY
        self._reconnect_handle: asyncio.TimerHandle | None = None
        self._generation = 0  # counts opens; lets stale close callbacks be ignored
        self._lost = False

    # ------------------------------------------------------------ listeners

    def add_listener(
        self, cb: Callable[[VMEvent], Any], loop: asyncio.AbstractEventLoop | None = None
    ) -> Callable[[], None]:
        """Call *cb(event)* for every event; on *loop* if given. Returns an unsubscribe."""
        entry = (cb, loop)
        with self._lock:
            self._listeners.append(entry)
        if self._conn is None:
            # Events only flow on an open connection: open it now so listeners
            # do not depend on someone else making the first call.
            try:
                self.conn()
            except HostError as e:
                log.warning("libvirt %s not reachable yet (%s); will retry", self.uri, e)
                self._schedule_reconnect()

        def remove() -> None:
            with self._lock:
                if entry in self._listeners:
                    self._listeners.remove(entry)

        return remove

    def _emit(self, event: VMEvent) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for cb, loop in listeners:
            if loop is None:
                self._safe(cb, event)
            elif not loop.is_closed():
                try:
                    loop.call_soon_threadsafe(self._safe, cb, event)
                except RuntimeError:  # loop closed meanwhile
                    pass

    @staticmethod
    def _safe(cb: Callable[[VMEvent], Any], event: VMEvent) -> None:
        try:
            cb(event)
        except Exception:
            log.exception("kernelswitch VM event listener failed on %s", event)

    # ------------------------------------------------------------ open/close

    @property
    def is_open(self) -> bool:
        c = self._conn
        if c is None:
            return False
        try:
            return bool(c.isAlive())
        except Exception:
            return False

    def conn(self) -> Any:
        """An open ``virConnect`` for this URI (opening or reopening it)."""
        with self._lock:
            if self._conn is not None and self.is_open:
                return self._conn
            if self._conn is not None:  # died before its close callback arrived
                self._drop()
                self._lost = True
                self._emit(VMEvent("connection", self.uri, event="lost"))
            return self._open()

    def _open(self) -> Any:
        libvirt = libvirt_module()
        loop = EVENTS.ensure()  # before open: libvirt binds the socket to the event impl
        try:
            c = libvirt.open(self.uri)
        except libvirt.libvirtError as e:
            msg = (
                f"Cannot connect to libvirt at {self.uri}: {e.get_error_message()}. "
                "Is libvirtd running? Start it with `virtlogd -d; libvirtd -d` "
                "(no systemd) or `systemctl start libvirtd`, then try again."
            )
            raise HostError(msg, details={"uri": self.uri}) from e
        self._generation += 1
        gen = self._generation
        try:
            c.setKeepAlive(KEEPALIVE_INTERVAL, KEEPALIVE_COUNT)
        except libvirt.libvirtError as e:  # remote side without keepalive support
            log.debug("libvirt %s: keepalive not available: %s", self.uri, e)
        c.registerCloseCallback(functools.partial(self._on_close, gen), None)
        ids = []
        ids.append(
            c.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_lifecycle, None
            )
        )
        ids.append(
            c.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_REBOOT, self._on_reboot, None
            )
        )
        ids.append(
            c.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_TRAY_CHANGE, self._on_tray, None
            )
        )
        self._conn = c
        self._callback_ids = ids
        self._reconnect_delay = RECONNECT_DELAY
        log.debug("libvirt %s opened (generation %s, events on %r)", self.uri, gen, loop)
        if self._lost:
            self._lost = False
            self._emit(VMEvent("connection", self.uri, event="restored"))
        return c

    def _drop(self) -> None:
        """Forget the current connection (it is dead or being closed)."""
        c, self._conn = self._conn, None
        ids, self._callback_ids = self._callback_ids, []
        if c is None:
            return
        for i in ids:
            try:
                c.domainEventDeregisterAny(i)
            except Exception:
                pass
        try:
            c.unregisterCloseCallback()
        except Exception:
            pass
        try:
            c.close()
        except Exception:
            pass

    def close(self) -> None:
        with self._lock:
            if self._reconnect_handle is not None:
                self._reconnect_handle.cancel()
                self._reconnect_handle = None
            self._drop()

    # ------------------------------------------------------------ callbacks
    # (run on the event thread)

    def _on_close(self, generation: int, _conn: Any, reason: int, _opaque: Any) -> None:
        if generation != self._generation:
            return
        log.warning("libvirt %s connection closed (reason %s); reconnecting", self.uri, reason)
        with self._lock:
            self._lost = True
            # The old virConnect must not be closed from inside its own callback.
            self._conn = None
            self._callback_ids = []
        self._emit(VMEvent("connection", self.uri, event="lost", detail=reason))
        self._schedule_reconnect()

    def _schedule_reconnect(self) -> None:
        loop = EVENTS.ensure()

        def arm() -> None:
            if self._reconnect_handle is not None:
                return
            self._reconnect_handle = loop.call_later(self._reconnect_delay, self._try_reconnect)

        loop.call_soon_threadsafe(arm)

    def _try_reconnect(self) -> None:
        self._reconnect_handle = None
        if self._conn is not None:
            return
        if not self._listeners:
            return  # nobody waits for events: the next call reopens lazily
        loop = EVENTS.ensure()

        def attempt() -> None:
            try:
                self.conn()
            except HostError:
                self._reconnect_delay = min(self._reconnect_delay * 2, RECONNECT_MAX_DELAY)
                self._schedule_reconnect()

        # Opening blocks: keep it off the event thread (it dispatches our RPC replies).
        loop.run_in_executor(None, attempt)

    def _on_lifecycle(self, _c: Any, dom: Any, event: int, detail: int, _o: Any) -> None:
        self._emit(
            VMEvent("lifecycle", self.uri, dom.name(), LIFECYCLE.get(event, str(event)), detail,
                    uuid=dom.UUIDString())
        )  # fmt: skip

    def _on_reboot(self, _c: Any, dom: Any, _o: Any) -> None:
        self._emit(VMEvent("reboot", self.uri, dom.name(), "reboot"))

    def _on_tray(self, _c: Any, dom: Any, dev_alias: str, reason: int, _o: Any) -> None:
        self._emit(
            VMEvent("tray", self.uri, dom.name(), TRAY.get(reason, str(reason)), device=dev_alias)
        )

    # ------------------------------------------------------------ calls

    def call(self, fn: Callable[[Any], T]) -> T:
        """``fn(virConnect)``; if the daemon went away, reopen and try once more.

        A storage pool busy with another client's volume job is waited out
        (up to :data:`POOL_BUSY_WAIT` s): libvirt refuses to refresh a pool, or
        delete from it, while a volume is being made there, and answers at
        once instead of queueing; such a call failed before changing anything.
        """
        try:
            deadline = time.monotonic() + POOL_BUSY_WAIT
            while True:
                try:
                    return self._call(fn)
                except Exception as e:
                    if not is_pool_busy(e) or time.monotonic() > deadline:
                        raise
                    log.debug("libvirt %s: storage pool busy; retrying", self.uri)
                    time.sleep(POOL_BUSY_POLL)
        finally:
            EVENTS.wake()

    def _call(self, fn: Callable[[Any], T]) -> T:
        c = self.conn()
        try:
            return fn(c)
        except Exception as e:
            if not is_connection_error(e):
                raise
            log.info("libvirt %s: connection lost during a call (%s); retrying", self.uri, e)
            with self._lock:
                if self._conn is c:
                    self._lost = True
                    self._drop()
            deadline = time.monotonic() + 10
            while True:
                try:
                    c = self.conn()
                    break
                except HostError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            return fn(c)

    async def acall(self, fn: Callable[[Any], T]) -> T:
        """:meth:`call` in the bounded ``libvirt`` pool, for asyncio code."""
        from .._executors import run_in

        return await run_in("libvirt", self.call, fn)
