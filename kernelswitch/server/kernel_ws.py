"""The kernel websocket connection kernelswitch installs: it knows which shell
requests are still waiting for their reply, so a switch can move them.

Public API (stable; :mod:`.kernel_swap` and :mod:`.app` use it):

``SwitchableConnection``
    jupyter_server's ``ZMQChannelsWebsocketConnection`` plus, per websocket,
    the shell requests in flight (``msg_id -> (msg_type, raw ws message)``,
    in the order they arrived; an entry goes when its reply goes out), a
    switch ``hold`` (new input kept, not sent, until ``release``), a watch
    on one cell's end, and a note written into the next cell's output.
``install(settings, log)``
    Makes it the server's ``kernel_websocket_connection_class`` when that is
    still jupyter_server's default (someone else's class is left alone;
    switching then falls back to waiting for the kernel to be idle).

Why on the server: JupyterLab's Run All sends every cell's execute_request at
once, before the cell with ``%pyenv switch`` runs, so the cells behind it sit
in the *old* kernel's queue. Only the server sees them on their way, in both
websocket protocols (the legacy JSON one and ``v1.kernel.websocket.jupyter.org``,
which JupyterLab uses), and only it can send them again to the new kernel.
Cheap: shell requests are few (one per cell or completion); only their
header is read (v1: one small JSON frame); of iopub only status messages
are read further, and only while a request waits for its idle status
(``settled()``: a direct switch lets those finish first, so no reply is
lost in the swap); the tables are bounded (:data:`MAX_IN_FLIGHT`).

The websocket also gets TCP_NODELAY: kernel messages are small bursts, and
with Nagle's algorithm (tornado's default) a reply waited for the browser's
delayed ACK, ~40 ms per cell here (benchmarks/switch.py: the usual gap between
back-to-back replies went from 48 ms to ~4 ms).

The watch fires *synchronously*, inside the callback that forwarded the
cell's reply or idle status (whichever comes second): that is the moment the
browser has everything of that cell, and nothing of the next queued cell has
been forwarded yet (the old kernel publishes it after the idle, and iopub
keeps order). Between the idle and a late reply, iopub of this websocket is
held back (forwarded only if the kernel stays), so the old kernel's status
for a queued cell cannot reach the browser (JupyterLab would end that cell's
future early and drop its real output).
For the same reason, if the switch does not happen, the busy/idle statuses
the old kernel publishes around the first copy of a queued cell it drops
are swallowed (``swallow``), so each cell shows one busy/idle pair.
"""

from __future__ import annotations

import collections
import contextlib
import json
from collections.abc import Callable
from typing import Any

from jupyter_server.services.kernels.connection.base import (
    deserialize_binary_message,
    deserialize_msg_from_ws_v1,
    serialize_binary_message,
    serialize_msg_to_ws_v1,
)
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

#: Shell requests remembered per websocket; the oldest go first beyond it
#: (a Run All of a notebook this long is not something a switch can save).
MAX_IN_FLIGHT = 2000

_V1 = "v1.kernel.websocket.jupyter.org"
#: metadata key on a request sent again by a switch (kernelside/_queued.py reads it)
RESENT = "kernelswitch_resent"


class CellWatch:
    """Calls ``on_end(reply_content)`` once the cell ``msg_id``'s reply and
    idle status went to the browser; it answers whether the kernel behind
    this websocket changed (then what iopub brought meanwhile is dropped,
    else it is forwarded after all)."""

    def __init__(self, msg_id: str, on_end: Callable[[dict[str, Any]], bool]) -> None:
        self.msg_id = msg_id
        self.on_end: Callable[[dict[str, Any]], bool] | None = on_end
        self.reply: dict[str, Any] | None = None
        self.idle = False
        self.buffer: list[tuple[Any, list[Any]]] = []

    @property
    def muted(self) -> bool:
        """After the idle, before the reply: iopub waits (it is the next cell's)."""
        return self.idle and self.reply is None and self.on_end is not None


class SwitchableConnection(ZMQChannelsWebsocketConnection):
    """See the module docstring."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.in_flight: collections.OrderedDict[str, tuple[str, Any]] = (
            collections.OrderedDict()
        )
        self.held: list[Any] | None = None
        self.watch: CellWatch | None = None
        self.note: str | None = None
        #: the last requests answered (a switch's asker may have ended already)
        self.replied: collections.deque[str] = collections.deque(maxlen=64)
        #: execute_requests answered whose idle status has not passed yet, and
        #: idle statuses that passed before their reply (other socket)
        self.awaiting_idle: set[str] = set()
        self.idle_first: collections.deque[str] = collections.deque(maxlen=64)
        #: (msg_id, state) statuses not to forward: those the old kernel
        #: publishes around a queued cell it drops
        self.swallow: set[tuple[str, str]] = set()

    def connect(self) -> Any:
        # Kernel messages are small and come in bursts (status, output, reply,
        # status): with Nagle's algorithm on (tornado's default for websockets)
        # a reply waits for the browser's delayed ACK, ~40 ms per cell here.
        with contextlib.suppress(Exception):
            self.websocket_handler.set_nodelay(True)
        return super().connect()

    # -- browser -> kernel --------------------------------------------------

    def handle_incoming_message(self, incoming_msg: Any) -> None:
        if self.held is not None:
            self.held.append(incoming_msg)
            return
        if self.channels:
            self._track(incoming_msg)
        super().handle_incoming_message(incoming_msg)

    def _track(self, ws_msg: Any) -> None:
        try:
            channel, header = self._channel_header(ws_msg)
        except Exception:  # malformed: jupyter_server itself says so
            return
        if channel not in (None, "shell") or not isinstance(header, dict):
            return
        msg_id, msg_type = header.get("msg_id"), header.get("msg_type", "")
        # only requests get a reply (comm_open/comm_msg/comm_close never do)
        if not isinstance(msg_id, str) or not str(msg_type).endswith("_request"):
            return
        if self.note is not None and msg_type == "execute_request":
            note, self.note = self.note, None
            self.write_stderr(note, header)
        self.in_flight[msg_id] = (msg_type, ws_msg)
        while len(self.in_flight) > MAX_IN_FLIGHT:
            self.in_flight.popitem(last=False)

    def _channel_header(self, ws_msg: Any) -> tuple[str | None, Any]:
        if self.subprotocol == _V1:
            channel, parts = deserialize_msg_from_ws_v1(ws_msg)
            return channel, self.session.unpack(parts[0])
        msg = deserialize_binary_message(ws_msg) if isinstance(ws_msg, bytes) else json.loads(
            ws_msg)
        return msg.get("channel"), msg.get("header")

    def resend(self, skip: str | None = None) -> list[dict[str, Any]]:
        """Send every request still in flight again, in order, to whatever
        kernel the streams now reach; their headers.

        Marked ``metadata[RESENT]``: the kernel side drops only unmarked
        copies, and the signature differs from the first copy's (a kernel
        refuses a message whose signature it has seen: replay protection).
        """
        sent = []
        for msg_id, (_, raw) in list(self.in_flight.items()):
            if msg_id == skip or not self.channels:
                continue
            try:
                again, header = self._marked(raw)
            except Exception:  # it was forwarded once already, so it parses
                continue
            sent.append(header)
            super().handle_incoming_message(again)
        return sent

    def _marked(self, ws_msg: Any) -> tuple[Any, dict[str, Any]]:
        if self.subprotocol == _V1:
            channel, parts = deserialize_msg_from_ws_v1(ws_msg)
            meta = self.session.unpack(parts[2])
            parts[2] = self.session.pack({**meta, RESENT: True})
            return serialize_msg_to_ws_v1(parts, channel), self.session.unpack(parts[0])
        binary = isinstance(ws_msg, bytes)
        msg = deserialize_binary_message(ws_msg) if binary else json.loads(ws_msg)
        msg["metadata"] = {**(msg.get("metadata") or {}), RESENT: True}
        return (serialize_binary_message(msg) if binary else json.dumps(msg)), msg["header"]

    # -- kernel -> browser --------------------------------------------------

    def handle_outgoing_message(self, stream: Any, outgoing_msg: list[Any]) -> None:
        channel = stream if isinstance(stream, str) else getattr(stream, "channel", None)
        watch = self.watch
        if channel == "iopub" and watch is not None and watch.muted:
            watch.buffer.append((stream, outgoing_msg))  # the next cell's, maybe
            return
        if channel == "iopub" and self.swallow and self._swallowed(outgoing_msg):
            return
        super().handle_outgoing_message(stream, outgoing_msg)
        if channel == "shell" and self.in_flight:
            parent = self._part(outgoing_msg, 2)
            msg_id = parent.get("msg_id") if isinstance(parent, dict) else None
            entry = self.in_flight.pop(msg_id, None)  # type: ignore[arg-type]
            if entry is not None:
                self.replied.append(msg_id)  # type: ignore[arg-type]
                if entry[0] == "execute_request" and msg_id not in self.idle_first:
                    self.awaiting_idle.add(msg_id)  # type: ignore[arg-type]
            if watch is not None and msg_id == watch.msg_id:
                content = self._part(outgoing_msg, 4)
                watch.reply = content if isinstance(content, dict) else {}
                self._cell_end(watch)
        elif channel == "iopub" and (self.in_flight or self.awaiting_idle
                                     or (watch is not None and not watch.idle)):
            self._idle(outgoing_msg, watch)

    def _idle(self, msg_list: list[Any], watch: CellWatch | None) -> None:
        header = self._part(msg_list, 1)
        if not isinstance(header, dict) or header.get("msg_type") != "status":
            return
        parent = self._part(msg_list, 2)
        msg_id = parent.get("msg_id") if isinstance(parent, dict) else None
        if not msg_id or self._part(msg_list, 4).get("execution_state") != "idle":
            return
        if msg_id in self.awaiting_idle:
            self.awaiting_idle.discard(msg_id)
        elif msg_id in self.in_flight:
            self.idle_first.append(msg_id)
        if watch is not None and msg_id == watch.msg_id:
            watch.idle = True
            self._cell_end(watch)

    def settled(self) -> bool:
        """No request of this websocket waits for its reply or its idle status."""
        if len(self.awaiting_idle) > MAX_IN_FLIGHT:  # idles that never came
            self.awaiting_idle.clear()
        return not self.in_flight and not self.awaiting_idle

    def _cell_end(self, watch: CellWatch) -> None:
        if watch.reply is None or not watch.idle or watch.on_end is None:
            return
        on_end, watch.on_end = watch.on_end, None
        changed = on_end(watch.reply)
        buffered, watch.buffer = watch.buffer, []
        if not changed:  # the same kernel goes on: what waited is real output
            for stream, msg in buffered:
                self.handle_outgoing_message(stream, msg)

    def request_content(self, msg_id: str) -> dict[str, Any]:
        """The content of request ``msg_id`` still in flight ({} if unknown)."""
        raw = self.in_flight.get(msg_id, ("", None))[1]
        try:
            if self.subprotocol == _V1:
                return dict(self.session.unpack(deserialize_msg_from_ws_v1(raw)[1][3]))
            msg = deserialize_binary_message(raw) if isinstance(raw, bytes) else json.loads(raw)
            return dict(msg.get("content") or {})
        except Exception:
            return {}

    def _swallowed(self, msg_list: list[Any]) -> bool:
        header = self._part(msg_list, 1)
        if not isinstance(header, dict) or header.get("msg_type") != "status":
            return False
        parent = self._part(msg_list, 2)
        key = (parent.get("msg_id") if isinstance(parent, dict) else None,
               self._part(msg_list, 4).get("execution_state"))
        if key in self.swallow:
            self.swallow.discard(key)
            return True
        return False

    def _part(self, msg_list: list[Any], index: int) -> Any:
        """Part ``index`` after the delimiter (1 header, 2 parent, 4 content)."""
        try:
            _, fed = self.session.feed_identities(msg_list)
            raw = fed[index]
            return self.session.unpack(getattr(raw, "bytes", raw))
        except Exception:
            return {}


def install(settings: dict[str, Any], log: Any) -> bool:
    """Use :class:`SwitchableConnection` unless another class was configured."""
    key = "kernel_websocket_connection_class"
    current = settings.get(key)
    if current is not ZMQChannelsWebsocketConnection:
        log.info("kernelswitch: kernel websockets use %s; cells queued behind "
                 "%%pyenv switch run in the old kernel", current)
        return False
    settings[key] = SwitchableConnection
    return True
