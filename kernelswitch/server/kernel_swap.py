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
    conns = [c for c in ZMQChannelsWebsocketConnection._open_sockets if c.kernel_manager is km]
    for conn in conns:
        # an instance attribute shadows the method until release() deletes it
        setattr(conn, "handle_incoming_message",  # noqa: B010
                (lambda c: lambda msg: held.append((c, msg)))(conn))

    def release() -> None:
        for conn in conns:
            with contextlib.suppress(AttributeError):
                del conn.handle_incoming_message  # back to the class's method
        for conn, msg in held:
            if conn.channels:
                conn.handle_incoming_message(msg)

    return release
