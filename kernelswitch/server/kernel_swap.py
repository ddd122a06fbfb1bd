"""Move jupyter_server's side of a kernel to the process a switch started.

The engine (:mod:`kernelswitch.kernels`) swaps the candidate's provisioner and
ports into the kernel manager; what lives in jupyter_server (activity
watcher, remembered ports, buffered channels of a closed tab, and every open
websocket's ZMQ streams) is re-pointed here, so browsers keep their
websocket. DESIGN decision 8 describes the recipe, checked with
jupyter_server 2.x.

No ``restarting`` status is sent: JupyterLab answers one with its "kernel
appears to have died" dialog and a reconnect. The front ends ask for the new
``kernel_info`` themselves after a switch.
"""

from __future__ import annotations

import contextlib
from typing import Any

from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

from .kernel_ws import CellWatch, SwitchableConnection


def rewire(mkm: Any, kernel_id: str, km: Any) -> list[Any]:
    """Point the server's watchers and websockets of ``kernel_id`` at ``km``'s new ports.

    Returns one future per websocket that resolves once its new iopub
    subscription delivers (what was sent before would be lost to ZMQ's slow
    joiner): answer the switch only after them.
    """
    km.execution_state = "idle"  # the candidate answered kernel_info: it is idle
    km.reason = ""
    if kernel_id in getattr(mkm, "_kernel_ports", {}):
        mkm.stop_watching_activity(kernel_id)
        mkm._kernel_ports[kernel_id] = km.ports
        mkm.start_watching_activity(kernel_id)
    # A tab closed meanwhile left buffering channels on the old ports: drop
    # them so its reconnect opens fresh ones.
    if kernel_id in getattr(mkm, "_kernel_buffers", {}):
        mkm.stop_buffering(kernel_id)
    return [
        _repoint(conn)
        for conn in list(ZMQChannelsWebsocketConnection._open_sockets)
        if conn.kernel_manager is km and conn.channels
    ]


def _repoint(conn: Any) -> Any:
    for stream in conn.channels.values():
        if stream is not None and not stream.closed():
            stream.on_recv(None)
            with contextlib.suppress(Exception):
                stream.close(linger=0)
    conn.channels = {}
    conn.create_stream()
    # nudge(): kernel_info until the new iopub delivers, so no output of the
    # next cell is lost to ZMQ's slow-joiner; replies queue meanwhile.
    done = conn.nudge()

    def subscribe(_: Any) -> None:
        for stream in conn.channels.values():
            stream.on_recv_stream(conn.handle_outgoing_message)

    done.add_done_callback(subscribe)
    return done


def hold(kernel_id: str, km: Any) -> Any:
    """Hold what the browsers send to ``km`` until the returned ``release()``.

    Used while a switch waits for the cell that asked for it (``%pyenv
    switch``) to end: the next cell, sent as soon as that one finishes, must
    reach the new kernel, not the old one.
    """
    held: list[tuple[Any, Any]] = []
    conns = _connections(km)
    for conn in conns:
        if isinstance(conn, SwitchableConnection):
            conn.held = []
            continue
        # another connection class: an instance attribute shadows the method
        # until release() deletes it
        setattr(conn, "handle_incoming_message",  # noqa: B010
                (lambda c: lambda msg: held.append((c, msg)))(conn))

    def release() -> None:
        for conn in conns:
            if isinstance(conn, SwitchableConnection):
                mine, conn.held = conn.held or [], None
                held.extend((conn, m) for m in mine)
                continue
            with contextlib.suppress(AttributeError):
                del conn.handle_incoming_message  # back to the class's method
        for conn, msg in held:
            if conn.channels:
                conn.handle_incoming_message(msg)

    return release


def settled(km: Any) -> bool:
    """No websocket of ``km`` waits for a reply (or its idle status) from it."""
    return all(c.settled() for c in _connections(km) if isinstance(c, SwitchableConnection)
               and c.channels)


def _connections(km: Any) -> list[Any]:
    return [c for c in ZMQChannelsWebsocketConnection._open_sockets if c.kernel_manager is km]


class Claim:
    """The cell that asked for a switch, and the requests queued behind it.

    Made by :func:`claim`; the switcher (``kernelswitch.kernels._cell_end``)
    uses ``queued`` (execute_requests the old kernel must not run: the kernel
    side drops their first copy), ``stop_on_error`` (of the asking cell's
    request), ``on_cell_end(callback)`` (``callback(reply_content) -> bool``
    is called synchronously right after the cell's reply and idle status
    went to the browser and answers whether it swapped the kernel; ``None``
    stops watching), ``keep_old(resend)`` (no swap: when the queued requests
    will be sent again, the old kernel's busy/idle around the dropped first
    copies are not forwarded) and ``finish(moved, resend, note)`` (send the
    queued requests again, in order, to whichever kernel runs now, then what
    was held; ``note`` tells the user, in the first of those cells or the
    next one, why the switch did not happen).
    """

    def __init__(self, cell: str, owner: SwitchableConnection, conns: list[Any]) -> None:
        self.cell, self.owner, self.conns = cell, owner, conns
        self.release: Any = None  # claim() sets it right after
        self.stop_on_error = bool(owner.request_content(cell).get("stop_on_error", True))
        self.queued = [mid for c in self._ours() for mid, (kind, _) in c.in_flight.items()
                       if mid != cell and kind == "execute_request"]

    def _ours(self) -> list[SwitchableConnection]:
        return [c for c in self.conns if isinstance(c, SwitchableConnection)]

    def owner_gone(self) -> bool:
        """The websocket that carried the cell closed (the tab went away)."""
        return self.owner not in ZMQChannelsWebsocketConnection._open_sockets

    def on_cell_end(self, callback: Any) -> None:
        self.owner.watch = None if callback is None else CellWatch(self.cell, callback)

    def keep_old(self, resend: bool) -> None:
        if resend:
            for c in self._ours():
                c.swallow.update((mid, s) for mid in self.queued if mid in c.in_flight
                                 for s in ("busy", "idle"))

    def finish(self, moved: bool, resend: bool, note: str | None = None) -> None:
        self.owner.watch = None
        first = None
        for conn in self._ours():
            if moved:
                conn.swallow.clear()  # the new kernel's statuses all count
            if resend and conn.channels:
                for header in conn.resend(skip=self.cell):
                    if first is None and header.get("msg_type") == "execute_request":
                        first = (conn, header)
        if note:
            if first is not None:
                first[0].write_stderr(note, first[1])
            else:
                self.owner.note = note  # the next cell the user runs shows it
        if self.release is not None:
            self.release()


def claim(kernel_id: str, km: Any, cell: str) -> Claim | None:
    """Hold new input and take over the requests queued behind ``cell``.

    ``None`` when no websocket of ours carried ``cell`` (another connection
    class, or a client that is not a browser tab): then the switch waits
    for the kernel to be idle instead. Raises :class:`AskerGone` when that
    cell already ended (the user interrupted the magic while it waited): no
    one wants the switch any more, so it does not happen.
    """
    from ..kernels.errors import AskerGone

    conns = [c for c in _connections(km) if c.channels]
    if any(isinstance(c, SwitchableConnection) and cell in c.replied for c in conns):
        raise AskerGone("the cell that asked for this switch ended before the new kernel "
                        "was ready (interrupted?), so nothing changed; run %pyenv switch again")
    owner = next((c for c in conns if isinstance(c, SwitchableConnection)
                  and cell in c.in_flight), None)
    if owner is None:
        return None
    out = Claim(cell, owner, conns)  # what is in flight now ...
    out.release = hold(kernel_id, km)  # ... and nothing more reaches the old kernel
    return out
