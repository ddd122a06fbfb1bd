"""Ask every host at once; one that does not answer in time never holds the others.

Public API (stable): :class:`HostBoard` ``(managers)``:
``ask(fn, deadline) -> {uri: result | HostError}`` runs ``fn(manager)`` for every
host in threads of its own and waits at most *deadline* seconds;
``hosts() -> [{"uri", "alias", "remote", "state": "up"|"down", "reason"?}]``.

Why a board and not a loop over managers: opening ``qemu+ssh`` to a host that
is down blocks in ssh until its ConnectTimeout (5 s), and a host that is up but
slow blocks a list as long as it takes. Each host's call runs in its own
thread; past the deadline the answer goes out without that host, which is
listed as down with the reason ("not answering ..."), and its call goes on in
the background: when it succeeds the host is up again for the next list. At
most one call per host is in flight, so a dead host never piles up threads.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import HostError
from .uri import HostURI

log = logging.getLogger(__name__)

#: Seconds a list waits for a remote host (the others answer within 2 s).
LIST_DEADLINE = 1.5


class HostBoard:
    def __init__(self, managers: Sequence[Any]) -> None:
        self.managers = list(managers)
        self._pool = cf.ThreadPoolExecutor(
            max_workers=max(4, 2 * len(self.managers)), thread_name_prefix="kernelswitch-hosts"
        )
        self._lock = threading.Lock()
        self._inflight: dict[str, cf.Future[Any]] = {}
        self._state: dict[str, dict[str, Any]] = {}
        for m in self.managers:
            h = HostURI.parse(m.uri)
            self._state[m.uri] = {"uri": m.uri, "alias": h.alias, "remote": h.remote,
                                  "state": "unknown"}  # fmt: skip

    def _mark(self, uri: str, up: bool, reason: str = "") -> None:
        with self._lock:
            rec = self._state[uri]
            rec["state"] = "up" if up else "down"
            rec["since"] = rec.get("since") if rec.get("was") == up else time.time()
            rec["was"] = up
            if up:
                rec.pop("reason", None)
            else:
                rec["reason"] = reason

    def hosts(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {k: v for k, v in self._state[m.uri].items() if k not in ("was", "since")}
                for m in self.managers
            ]

    def state(self, uri: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._state[uri])

    def _submit(self, manager: Any, fn: Callable[[Any], Any]) -> cf.Future[Any]:
        uri = manager.uri
        with self._lock:
            pending = self._inflight.get(uri)
            if pending is not None and not pending.done():
                return pending  # still trying: no second thread for a dead host
            fut = self._pool.submit(fn, manager)
            self._inflight[uri] = fut

        def done(f: cf.Future[Any]) -> None:
            err = f.exception()
            if err is None:
                self._mark(uri, True)
            elif isinstance(err, HostError):
                self._mark(uri, False, err.message)

        fut.add_done_callback(done)
        return fut

    def ask(self, fn: Callable[[Any], Any], deadline: float = LIST_DEADLINE) -> dict[str, Any]:
        """``fn(manager)`` on every host; {uri: result or the HostError it gave}.

        Local daemons are waited for as long as they take (their own call
        deadlines apply, as before there were remote hosts: a busy local
        daemon is slow, not gone); remote hosts get *deadline* seconds, counted
        from the start, so they never add to a slow local answer.
        """
        start = time.monotonic()
        futures = {m.uri: self._submit(m, fn) for m in self.managers}
        local = [futures[m.uri] for m in self.managers if not m.remote]
        cf.wait(local)
        cf.wait(futures.values(), timeout=max(0.0, deadline - (time.monotonic() - start)))
        out: dict[str, Any] = {}
        for uri, fut in futures.items():
            if not fut.done():
                alias = self._state[uri]["alias"]
                reason = (
                    f"{alias} is not answering (no reply within {deadline:g} s); "
                    "still trying in the background"
                )
                self._mark(uri, False, reason)
                out[uri] = HostError(reason, details={"uri": uri})
                continue
            err = fut.exception()
            if err is None:
                out[uri] = fut.result()
            elif isinstance(err, HostError):
                out[uri] = err
            else:
                raise err
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
