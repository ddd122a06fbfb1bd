"""One libvirt connection per URI, kept alive, reopened when it drops.

Public API (stable):

- :func:`get_connection` ``(uri) -> Connection`` — the process-wide connection
  object for *uri* (made on first use).
- :class:`Connection` — ``.conn()`` returns an open ``virConnect`` (reopening a
  dead one), ``.call(fn)`` runs ``fn(virConnect)`` and retries once when the
  daemon went away mid-call, ``.acall(fn)`` does the same in the bounded
  ``libvirt`` pool (:mod:`kernelswitch._executors`) for asyncio code,
  ``add_listener(cb, loop=None)`` subscribes to
  :class:`VMEvent`\\ s (lifecycle, reboot, tray, connection up/down),
  ``add_open_hook(fn)`` runs ``fn()`` in a thread after every (re)open.

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

from ._libvirt import _alive, _teardown, is_connection_error, is_pool_busy, libvirt_module
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
#: Seconds a dropped connection stays usable for calls already under way on it.
TEARDOWN_GRACE = 2.0
#: Seconds close() waits for the daemon to acknowledge before moving on.
CLOSE_WAIT = 5.0
#: Seconds a call waits out a storage pool busy with someone else's volume job.
POOL_BUSY_WAIT = 10.0
POOL_BUSY_POLL = 0.2

T = TypeVar("T")
_Listener = tuple[Callable[["VMEvent"], Any], "asyncio.AbstractEventLoop | None"]

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


# ------------------------------------------------------------------ connection


class Connection:
    """A libvirt connection to one URI that reopens itself.

    Thread-safe: blocking calls may come from any worker thread. The server
    calls :meth:`acall` (runs in the ``libvirt`` pool); the CLI and tests call
    :meth:`call` directly.

    Locking (why it looks like this): libvirt runs our close callback and
    event handlers on the event thread while holding locks of its own, and
    ``virConnectUnregisterCloseCallback`` / ``virConnectClose`` wait for a
    callback being dispatched to return. A thread that held our lock across
    such a call while the callback waited for that lock wedged every VM
    request for good (issue 15). So:

    - ``_lock`` guards only our fields and is never held across a libvirt call;
    - ``_open_lock`` makes opens one at a time; callbacks never take it;
    - a dead ``virConnect`` is swapped out under ``_lock`` and torn down
      (deregister, unregister, close) outside any lock, in a short-lived
      thread of its own, never on the event thread (it may be inside that
      connection's own callback).
    """

    def __init__(self, uri: str = DEFAULT_URI) -> None:
        self.uri = uri
        self._conn: Any = None
        self._lock = threading.Lock()
        self._open_lock = threading.Lock()
        self._callback_ids: list[int] = []
        self._listeners: list[_Listener] = []
        self._open_hooks: list[Callable[[], Any]] = []
        self._reconnect_delay = RECONNECT_DELAY
        self._reconnect_handle: asyncio.TimerHandle | None = None
        self._generation = 0  # counts opens; lets stale close callbacks be ignored
        self._lost = False

    # ------------------------------------------------------------ listeners

    def add_listener(
        self, cb: Callable[[VMEvent], Any], loop: asyncio.AbstractEventLoop | None = None
    ) -> Callable[[], None]:
        """Call *cb(event)* for every event; on *loop* if given. Returns an unsubscribe.

        A listener without a loop is called on whatever thread noticed the
        event (often the event thread): it must not block or call libvirt.
        """
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

    def add_open_hook(self, fn: Callable[[], Any]) -> None:
        """Run ``fn()`` in a thread of its own after every successful open.

        For work that must happen once libvirtd is reachable again (e.g.
        removing what a create left behind while it was gone). Also keeps the
        reconnect loop running while the daemon is away.
        """
        with self._lock:
            self._open_hooks.append(fn)

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
        return _alive(self._conn)

    def conn(self) -> Any:
        """An open ``virConnect`` for this URI (opening or reopening it)."""
        c = self._conn
        if _alive(c):
            return c
        with self._open_lock:
            c = self._conn
            if _alive(c):
                return c  # another thread reopened it while we waited
            if c is not None:  # died before its close callback arrived
                self._discard(c)
            return self._open()

    def _open(self) -> Any:
        """Open, register callbacks, publish. Runs under ``_open_lock`` only."""
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
        with self._lock:
            self._generation += 1
            gen = self._generation
        ids: list[int] = []
        try:
            try:
                c.setKeepAlive(KEEPALIVE_INTERVAL, KEEPALIVE_COUNT)
            except libvirt.libvirtError as e:  # remote side without keepalive support
                log.debug("libvirt %s: keepalive not available: %s", self.uri, e)
            c.registerCloseCallback(functools.partial(self._on_close, gen), None)
            for event_id, cb in (
                (libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_lifecycle),
                (libvirt.VIR_DOMAIN_EVENT_ID_REBOOT, self._on_reboot),
                (libvirt.VIR_DOMAIN_EVENT_ID_TRAY_CHANGE, self._on_tray),
            ):
                ids.append(c.domainEventRegisterAny(None, event_id, cb, None))
        except libvirt.libvirtError as e:  # the daemon went away while we set up
            _teardown(c, ids, self.uri)
            msg = f"Lost libvirt at {self.uri} while connecting: {e.get_error_message()}."
            raise HostError(msg, details={"uri": self.uri}) from e
        with self._lock:
            self._conn = c
            self._callback_ids = ids
            self._reconnect_delay = RECONNECT_DELAY
            restored, self._lost = self._lost, False
            hooks = list(self._open_hooks)
        log.debug("libvirt %s opened (generation %s, events on %r)", self.uri, gen, loop)
        if restored:
            self._emit(VMEvent("connection", self.uri, event="restored"))
        for hook in hooks:
            threading.Thread(
                target=_run_hook, args=(hook, self.uri), name="kernelswitch-libvirt-hook",
                daemon=True,
            ).start()  # fmt: skip
        return c

    def _discard(self, c: Any, detail: Any = None) -> bool:
        """Swap *c* out if it is still current and tear it down in the background.

        Never holds a lock across libvirt calls (see the class docstring).
        True when *c* was current (the caller may then announce the loss).
        """
        with self._lock:
            if self._conn is not c:
                return False
            ids, self._callback_ids = self._callback_ids, []
            self._conn = None
            self._generation += 1  # its close callback, if it still comes, is stale
            self._lost = True
        threading.Thread(
            target=_teardown, args=(c, ids, self.uri, TEARDOWN_GRACE),
            name="kernelswitch-libvirt-teardown",
            daemon=True,
        ).start()  # fmt: skip
        self._emit(VMEvent("connection", self.uri, event="lost", detail=detail))
        return True

    def close(self) -> None:
        """Close now (listeners stay subscribed; the next call reopens)."""
        handle = self._reconnect_handle
        if handle is not None:
            handle.cancel()
            self._reconnect_handle = None
        with self._lock:
            c, self._conn = self._conn, None
            ids, self._callback_ids = self._callback_ids, []
            self._generation += 1
        if c is not None:
            # a daemon that hangs (SIGSTOPped) must not hang the server's exit
            t = threading.Thread(
                target=_teardown, args=(c, ids, self.uri), name="kernelswitch-libvirt-teardown",
                daemon=True,
            )  # fmt: skip
            t.start()
            t.join(CLOSE_WAIT)

    # ------------------------------------------------------------ callbacks
    # (run on the event thread: they take only ``_lock``, briefly)

    def _on_close(self, generation: int, _conn: Any, reason: int, _opaque: Any) -> None:
        with self._lock:
            stale = generation != self._generation or self._conn is None
            c = self._conn
        if stale:
            return
        log.warning("libvirt %s connection closed (reason %s); reconnecting", self.uri, reason)
        self._discard(c, detail=reason)
        self._schedule_reconnect()

    def _schedule_reconnect(self) -> None:
        loop = EVENTS.ensure()

        def arm() -> None:
            if self._reconnect_handle is not None:
                return
            self._reconnect_handle = loop.call_later(self._reconnect_delay, self._try_reconnect)

        try:
            loop.call_soon_threadsafe(arm)
        except RuntimeError:  # the event loop is gone (interpreter exit)
            pass

    def _try_reconnect(self) -> None:
        self._reconnect_handle = None
        if self._conn is not None:
            return
        with self._lock:
            wanted = bool(self._listeners or self._open_hooks)
        if not wanted:
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
            if self._discard(c):
                self._schedule_reconnect()
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


def _run_hook(hook: Callable[[], Any], uri: str) -> None:
    try:
        hook()
    except Exception:
        log.exception("libvirt %s: a hook run after (re)connecting failed", uri)
