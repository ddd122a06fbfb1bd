"""REST and websocket: reach a guest — serial terminal, shared folders, port forwards.

- websocket ``vms/{name}/serial`` (same auth and Origin rules as the console):
  server -> browser binary frames of raw serial output (the recent backlog
  first) and JSON text ``{"type": "status", "state", "message"}``; browser ->
  server JSON text ``{"type": "input", "data": "..."}`` (at most 64 KiB).
- ``GET vms/{name}/serial/output?since=N&wait=S`` -> ``{"data", "start", "end",
  "state"}`` (output after byte N, waiting up to S s for some: the kernel's
  ``Serial``), ``POST vms/{name}/serial/input {"text"}`` sends text to the port.
- ``GET|POST vms/{name}/shares``, ``DELETE vms/{name}/shares/{tag}``.
- ``GET|POST vms/{name}/forwards``, ``DELETE vms/{name}/forwards/{port}[?proto=udp]``.

The forwards are put back on a guest at every start: :func:`watch_starts`
subscribes to each URI's lifecycle events (a start by anyone: us, virsh,
autostart).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web
from tornado.websocket import WebSocketClosedError

from . import schemas as S
from .console_handlers import MAX_MESSAGE, ConsoleSocket, _vm_info
from .vm_handlers import VMBaseHandler

log = logging.getLogger(__name__)

#: Longest a ``GET serial`` may wait for output.
MAX_WAIT = 30.0


def serials(handler: Any) -> Any:
    """The server's :class:`~kernelswitch.vm.guest.serial.SerialRegistry` (made on first use)."""
    # kept on the app, not in the web app's settings (a copy the app cannot see
    # when it stops)
    app = handler.settings["kernelswitch_app"]
    if app.serials is None:
        from ..vm.guest.serial import SerialRegistry

        fleet = app.vm_manager
        app.serials = SerialRegistry(lambda name: fleet.owner(name).connection)
    return app.serials


def watch_starts(fleet: Any, loop: asyncio.AbstractEventLoop) -> list[Any]:
    """Apply each VM's recorded forwards when it starts; returns the unsubscribers."""
    from ..vm.errors import HostError

    def on_event(event: Any, manager: Any) -> None:
        if event.kind != "lifecycle" or event.event != "started" or not event.vm:
            return

        async def apply() -> None:
            try:
                failed = await fleet.aio(manager.apply_forwards, event.vm)
            except Exception as e:
                log.warning("kernelswitch: forwards of %s not applied: %s", event.vm, e)
                return
            if failed:
                log.warning("kernelswitch: forwards of %s not applied: %s", event.vm, failed)

        loop.create_task(apply())

    out = []
    for manager in fleet.managers:
        try:
            out.append(manager.connection.add_listener(
                lambda e, m=manager: on_event(e, m), loop))  # fmt: skip
        except HostError as e:
            log.warning("kernelswitch: cannot watch %s for starts: %s", manager.uri, e)
    return out


class SerialSocket(ConsoleSocket):
    """``vms/{name}/serial``: one viewer of the VM's shared serial port."""

    def open(self, name: str) -> None:
        super(ConsoleSocket, self).open()  # the websocket's pings, not the console's session
        self.session = serials(self).session(name)
        self.viewer = _WSViewer(self)
        self.session.attach(self.viewer)

    def on_message(self, message: str | bytes) -> None:
        try:
            msg = json.loads(message) if isinstance(message, str) else None
        except ValueError:
            msg = None
        if not isinstance(msg, dict) or msg.get("type") not in ("input", "resize"):
            self._error('a message must be JSON {"type": "input", "data": "..."}')
            return
        if msg["type"] == "resize":
            return  # a serial line has no size; xterm.js sends it anyway
        data = msg.get("data")
        if not isinstance(data, str) or len(data) > MAX_MESSAGE:
            self._error("'data' must be a string")
            return
        try:
            self.session.send(data.encode("utf-8", "replace"))
        except Exception as e:
            self._error(getattr(e, "message", str(e)))

    def _error(self, text: str) -> None:
        self.errors += 1
        self.viewer.on_status({"type": "error", "message": text})
        if self.errors >= 20:
            self.close(1008, "too many bad messages")

    def on_close(self) -> None:
        session = getattr(self, "session", None)
        if session is not None:
            session.detach(self.viewer)


class _WSViewer:
    def __init__(self, ws: SerialSocket) -> None:
        self.ws = ws

    def on_output(self, data: bytes) -> None:
        self._write(data, binary=True)

    def on_status(self, status: dict[str, Any]) -> None:
        self._write(json.dumps(status), binary=False)

    def _write(self, data: Any, binary: bool) -> None:
        with contextlib.suppress(WebSocketClosedError):
            fut = self.ws.write_message(data, binary=binary)
            fut.add_done_callback(lambda f: f.exception())  # a closed socket: on_close detaches


def _text(data: bytes) -> tuple[str, int]:
    """Decoded text and how many bytes it used (an incomplete UTF-8 tail waits)."""
    try:
        return data.decode("utf-8"), len(data)
    except UnicodeDecodeError as e:
        if e.reason == "unexpected end of data":
            return data[: e.start].decode("utf-8", "replace"), e.start
        return data.decode("utf-8", "replace"), len(data)


def _schema(props: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": list(required),
            "properties": props}  # fmt: skip


_ANY = S.ok({"type": "object"})


class SerialHandler(VMBaseHandler):
    """``GET serial/output`` and ``POST serial/input``: the serial port for scripts."""

    self_locking = frozenset({"post"})  # typing on a serial port changes no definition
    query_schema = {
        "get": {
            "type": "object",
            "properties": {
                "since": {"type": "string", "pattern": r"^\d{1,15}$"},
                "wait": {"type": "string", "pattern": r"^([0-9]|[12][0-9]|30)(\.\d{1,6})?$",
                         "description": f"seconds, at most {MAX_WAIT:g}"},
            },
        }
    }
    body_schema = {"post": _schema({"text": {"type": "string", "maxLength": 65536}}, ("text",))}
    openapi = {
        "get": {
            "summary": "Serial output after byte `since` (waits up to `wait` s for some)",
            "responses": {"200": _ANY, **S.errors(400, 404)},
        },
        "post": {
            "summary": "Send text to the VM's serial port",
            "responses": {"200": _ANY, **S.errors(400, 404, 409)},
        },
    }

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        await _vm_info(self, name)
        session = serials(self).session(name)
        since = int(self.query["since"]) if "since" in self.query else None
        wait = min(float(self.query.get("wait", "0")), MAX_WAIT)
        # an open on its way (a new or idle-closed session) first reads what the
        # log has that the stream will not: wait for it, so it is in this answer
        await session.ready(min(wait, 5.0) if wait else 1.0)
        if session.state not in ("connecting", "connected"):
            wait = 0.0  # a stopped port prints nothing: answer now
        data, start, _end = await session.output(since, wait)
        text, used = _text(data)
        self.send_json({"name": name, "data": text, "start": start, "end": start + used,
                        "state": session.state, "message": session.message})  # fmt: skip

    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        await _vm_info(self, name)
        session = serials(self).session(name)
        await session.ready(5.0)  # a new or idle-closed session connects within a moment
        session.send(self.body["text"].encode("utf-8", "replace"))
        self.send_json({"name": name, "sent": len(self.body["text"])})


class SharesHandler(VMBaseHandler):
    body_schema = {
        "post": _schema(
            {"dir": {"type": "string", "minLength": 1, "maxLength": S.MAX_PATH},
             "tag": {"type": "string", "minLength": 1, "maxLength": 36},
             "readonly": S.FLAG},
            ("dir",),
        )
    }  # fmt: skip
    openapi = {
        "get": {"summary": "The VM's shared folders (virtiofs)",
                "responses": {"200": _ANY, **S.errors(400, 404)}},
        "post": {"summary": "Share a host folder with the VM (says whether it applies now "
                            "or at the next boot, and the guest's mount command)",
                 "responses": {"201": _ANY, **S.errors(400, 404, 409)}},
    }  # fmt: skip

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        self.send_json({"name": name, "shares": await self.vms.aio(self.vms.shares, name)})

    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        b = self.body
        out = await self.vms.aio(self.vms.share, name, b["dir"], b.get("tag"),
                                 S.truthy(b.get("readonly", False)))  # fmt: skip
        self.send_json(out, status=201)


class ShareHandler(VMBaseHandler):
    openapi = {"delete": {"summary": "Stop sharing the folder tagged {tag}",
                          "responses": {"200": _ANY, **S.errors(400, 404, 409)}}}  # fmt: skip

    @web.authenticated
    @authorized
    async def delete(self, name: str, tag: str) -> None:
        self.send_json(await self.vms.aio(self.vms.unshare, name, tag))


_PORT = {"type": "integer", "minimum": 1, "maximum": 65535}


class ForwardsHandler(VMBaseHandler):
    body_schema = {
        "post": _schema(
            {"host_port": _PORT, "guest_port": _PORT, "proto": {"enum": ["tcp", "udp"]},
             "host_addr": {"type": "string", "minLength": 2, "maxLength": 45}},
            ("host_port", "guest_port"),
        )
    }  # fmt: skip
    openapi = {
        "get": {"summary": "The VM's port forwards (kept in its definition, applied at "
                           "every start) and its address where libvirt knows it",
                "responses": {"200": _ANY, **S.errors(400, 404)}},
        "post": {"summary": "Forward a host port (127.0.0.1 unless host_addr) to a guest "
                            "port; 409 names who holds a busy port",
                 "responses": {"201": _ANY, **S.errors(400, 404, 409)}},
    }  # fmt: skip

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        self.send_json(await self.vms.aio(self.vms.forwards, name))

    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        b = self.body
        out = await self.vms.aio(self.vms.forward, name, b["host_port"], b["guest_port"],
                                 b.get("proto", "tcp"), b.get("host_addr", "127.0.0.1"))
        self.send_json(out, status=201)


class ForwardHandler(VMBaseHandler):
    query_schema = {"delete": {"type": "object", "properties": {"proto": {"enum": ["tcp", "udp"]}}}}
    openapi = {"delete": {"summary": "Remove the forward of host port {port}",
                          "responses": {"200": _ANY, **S.errors(400, 404, 409)}}}  # fmt: skip

    @web.authenticated
    @authorized
    async def delete(self, name: str, port: str) -> None:
        proto = self.query.get("proto", "tcp")
        self.send_json(await self.vms.aio(self.vms.unforward, name, port, proto))


def routes(api: str) -> list[tuple[str, Any]]:
    name = r"(?P<name>[^/]+)"
    return [
        (rf"{api}/vms/{name}/serial/?", SerialSocket),
        (rf"{api}/vms/{name}/serial/(?:output|input)/?", SerialHandler),
        (rf"{api}/vms/{name}/shares/?", SharesHandler),
        (rf"{api}/vms/{name}/shares/(?P<tag>[^/]+)", ShareHandler),
        (rf"{api}/vms/{name}/forwards/?", ForwardsHandler),
        (rf"{api}/vms/{name}/forwards/(?P<port>\d{{1,5}})", ForwardHandler),
    ]
