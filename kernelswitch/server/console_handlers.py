"""Console endpoints: the live websocket, screenshots, raw frames, input, previews.

- websocket ``vms/{name}/console`` (authenticated, same origin only)
- ``GET vms/{name}/screenshot`` (PNG, now), ``GET vms/{name}/framebuffer``
  (raw RGBA with ``X-Framebuffer-Width``/``-Height``; the Python ``Console.frame``),
  ``POST vms/{name}/console/input`` (``{"text"}``, ``{"press"}``, ``{"pointer"}``),
  ``GET vms/{name}/preview`` (the last frame kept when the console closed).

Protocol (server -> browser): binary update/audio messages
(:mod:`kernelswitch.console.encoders`) and JSON text ``{"type": "status" | "leds"
| "error", ...}``. Browser -> server, JSON text only, at most 64 KiB:
``key {code, key?, down}``, ``pointer {x, y, buttons}``, ``wheel {x, y, dy, buttons?}``,
``type {text}``, ``press {keys}``, ``resize {width, height}``, ``audio {enable}``,
``refresh``. A bad message gets an ``error`` answer and changes nothing; a
viewer that keeps sending them is closed (1008); others never notice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from ..console.errors import BadInput, ConsoleUnavailable
from . import schemas as S
from ._base import AUTH_RESOURCE, KSHandler, vm_ref
from ._validate import MAX_DEPTH, max_depth

log = logging.getLogger(__name__)

MAX_MESSAGE = 64 * 1024
#: Bad messages a viewer may send before it is closed (a broken or hostile client).
MAX_ERRORS = 20
#: Type/press messages that may wait behind a text being typed (more are refused).
MAX_QUEUED_TYPING = 8


def consoles(handler: Any) -> Any:
    """The server's :class:`ConsoleRegistry`, made on first use."""
    settings = handler.settings
    registry = settings.get("kernelswitch_consoles")
    if registry is None:
        from ..console.backend import LibvirtBackend
        from ..console.session import ConsoleRegistry

        app = settings["kernelswitch_app"]
        registry = settings["kernelswitch_consoles"] = ConsoleRegistry(
            LibvirtBackend(app.vm_manager)
        )
    return registry


async def console_key(handler: Any, name: str) -> str:
    """The VM's console session key: (uri, name) as a ref, however it was named.

    Why: a viewer that named the VM bare and one that sent ``?uri=`` must share
    one session (one VNC connection, DESIGN decision 1), not open two.
    """
    return str(await handler.settings["kernelswitch_app"].vm_manager.lock_key(name))


async def _vm_info(handler: Any, name: str) -> dict[str, Any]:
    vms = handler.settings["kernelswitch_app"].vm_manager
    return dict(await vms.aio(vms.info, name))


def _int(msg: dict[str, Any], key: str, lo: int = 0, hi: int = 65535) -> int:
    v = msg.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise BadInput(f"'{key}' must be a number from {lo} to {hi}, not {v!r}")
    return int(v)


def _str(msg: dict[str, Any], key: str, limit: int) -> str:
    v = msg.get(key)
    if not isinstance(v, str) or len(v) > limit:
        raise BadInput(f"'{key}' must be a string of at most {limit} characters")
    return v


def _vnc_typing(session: Any) -> Any:
    """Typing over the session's VNC link: what the typist falls back to while
    libvirtd is away (QEMU's VNC server does not need it)."""
    from ..console.keys import text_events

    async def vnc(text: str) -> None:
        await session.send_keys(text_events(text))

    return vnc


def apply_input(session: Any, msg: dict[str, Any]) -> asyncio.Task[None] | None:
    """Do one input message to *session*; typed text runs as a task (returned)."""
    from ..console.keys import combo_events, key_events, text_chords
    from ..console.typist import type_text

    kind = msg.get("type")
    if kind == "key":
        qnum, keysym = key_events(
            _str(msg, "code", 32), msg.get("key") if isinstance(msg.get("key"), str) else None
        )
        session.key(qnum, keysym, bool(msg.get("down")))
    elif kind == "pointer":
        session.pointer(_int(msg, "x"), _int(msg, "y"), _int(msg, "buttons", 0, 255))
    elif kind == "wheel":
        x, y = _int(msg, "x"), _int(msg, "y")
        buttons = _int(msg, "buttons", 0, 255) if "buttons" in msg else 0
        dy = msg.get("dy")
        if not isinstance(dy, (int, float)) or isinstance(dy, bool):
            raise BadInput("'dy' must be a number (negative scrolls up)")
        bit = 8 if dy < 0 else 16  # RFB buttons 4/5: wheel up/down
        session.pointer(x, y, buttons | bit)
        session.pointer(x, y, buttons)
    elif kind == "type":
        text = _str(msg, "text", 4096)
        text_chords(text)  # refuse untypable text now, not in the task
        return asyncio.create_task(
            type_text(session.backend, session.name, text, _vnc_typing(session))
        )
    elif kind == "press":
        events = combo_events(_str(msg, "keys", 200))
        return asyncio.create_task(session.send_keys(events))
    elif kind == "resize":
        session.resize(_int(msg, "width", 64, 8192), _int(msg, "height", 64, 8192))
    elif kind == "refresh":
        if session.client is not None:
            session.client.refresh()
    else:
        raise BadInput(
            f"unknown message type {kind!r}; expected key, pointer, wheel, type, press, "
            "resize, audio or refresh"
        )
    return None


def _make_viewer(ws: ConsoleSocket) -> Any:
    from ..console.session import Viewer

    class WSViewer(Viewer):
        async def send_bytes(self, data: bytes) -> None:
            with contextlib.suppress(WebSocketClosedError):  # on_close detaches us
                await ws.write_message(data, binary=True)

        async def send_text(self, text: str) -> None:
            with contextlib.suppress(WebSocketClosedError):
                await ws.write_message(text)

    return WSViewer()


_DEFAULT_PORTS = {"http": 80, "https": 443}


def same_origin(origin: str, scheme: str, host: str) -> bool:
    """Whether *origin* is scheme + host + port of this server (RFC 6454).

    Comparing host and port alone let ``https://host`` in on an ``http``
    server: another origin by the browser's rules. Missing ports are the
    scheme's default, so ``http://h`` and ``Host: h:80`` match. Behind a TLS
    proxy the server's scheme comes from ``X-Forwarded-Proto`` only with
    ``ServerApp.trust_xheaders``.
    """
    try:
        o = urlparse(origin.strip().lower())
        me = urlparse(f"{scheme.lower()}://{host.strip().lower()}")
        o_port = o.port or _DEFAULT_PORTS.get(o.scheme)
        my_port = me.port or _DEFAULT_PORTS.get(me.scheme)
    except ValueError:  # a port that is not a number
        return False
    return bool(o.hostname) and (o.scheme, o.hostname, o_port) == (
        me.scheme, me.hostname, my_port,
    )  # fmt: skip


class SameOriginSocket(WebSocketMixin, WebSocketHandler, JupyterHandler):
    """A kernelswitch websocket: Jupyter's auth, same-origin browsers only.

    The console and the events websocket share these rules. Subclasses call
    :meth:`authorize` first in their ``@ws_authenticated`` ``get``.
    """

    auth_resource = AUTH_RESOURCE
    #: what the websocket is, for the refused-origin log line
    what = "websocket"

    def set_default_headers(self) -> None:
        """No JupyterHandler HTML/CSP headers on a websocket."""

    @property
    def max_message_size(self) -> int:
        return MAX_MESSAGE

    def check_origin(self, origin: str | None = None) -> bool:
        """Same origin only, even for token-authenticated pages: a console is a keyboard."""
        host = self.request.headers.get("Host")
        if origin is None or host is None:
            return True  # not a browser (scripts, the kernel): auth still applies
        ok = same_origin(origin, self.request.protocol, host)
        if not ok:
            self.log.warning(
                "kernelswitch: %s from %s refused (host %s)", self.what, origin, host
            )
        return ok

    def _origin_matches_host(self, origin: str) -> bool:
        """tornado >= 6.5 lets an Origin whose host:port equals Host through
        without asking :meth:`check_origin` (it does not compare schemes):
        make that shortcut ask it too."""
        return self.check_origin(origin)

    async def authorize(self, action: str, refusal: str) -> None:
        """403 with *refusal* unless the user may *action* on kernelswitch."""
        allowed = await ensure_async(
            self.authorizer.is_authorized(self, self.current_user, action, AUTH_RESOURCE)
        )
        if not allowed:
            raise web.HTTPError(403, refusal)


class ConsoleSocket(SameOriginSocket):
    """``vms/{name}/console``: one viewer of the VM's shared console."""

    what = "console websocket"

    @ws_authenticated
    async def get(self, name: str) -> None:
        await self.authorize("execute", "not allowed to use VM consoles")
        try:
            name = await console_key(self, vm_ref(self, name))  # ?uri= names the host
            await _vm_info(self, name)
        except Exception as e:  # unknown VM or libvirt down: refuse before upgrading
            status = getattr(e, "http_status", 500)
            raise web.HTTPError(status, getattr(e, "message", str(e))) from e
        self.vm_name = name
        self.errors = 0
        self.typing: asyncio.Task[None] | None = None
        self.queued = 0  # type/press messages waiting for the text before them
        await super().get(name)

    def open(self, name: str) -> None:
        super().open()
        self.session = consoles(self).session(name)
        self.viewer = _make_viewer(self)
        self.session.attach(self.viewer)

    def on_message(self, message: str | bytes) -> None:
        """Every failure answers an ``error`` message and keeps the viewer connected:
        bad input counts towards :data:`MAX_ERRORS`; anything else is our bug,
        logged with its traceback (a hostile frame, e.g. 30,000 nested ``[``,
        must never drop the viewer or reach the log as an unhandled error)."""
        try:
            self._handle(message)
        except BadInput as e:
            self._refuse(e.message)
        except Exception:
            log.exception("kernelswitch: console message for VM %s failed", self.vm_name)
            self.viewer.offer_text(
                {"type": "error", "message": "the server could not handle that message "
                 "(a bug; the server log has the details)"}
            )  # fmt: skip

    def _refuse(self, message: str) -> None:
        self.errors += 1
        self.viewer.offer_text({"type": "error", "message": message})
        if self.errors >= MAX_ERRORS:
            self.close(1008, "too many bad messages")

    def _handle(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            raise BadInput("binary messages are not accepted; send JSON text")
        if max_depth(message) > MAX_DEPTH:  # before json.loads recurses into it
            raise BadInput(f"a message may nest at most {MAX_DEPTH} levels of [ and {{")
        try:
            msg = json.loads(message)
        except (ValueError, RecursionError):
            raise BadInput("a message must be a JSON object") from None
        if not isinstance(msg, dict):
            raise BadInput("a message must be a JSON object")
        if msg.get("type") == "audio":
            self.viewer.wants_audio = bool(msg.get("enable"))
            self.session.update_audio()
            return
        task: asyncio.Task[None] | None
        if msg.get("type") in ("type", "press") and self.typing and not self.typing.done():
            # keys keep their order: this one waits for the text still being typed
            if self.queued >= MAX_QUEUED_TYPING:
                raise BadInput("still typing the previous texts; wait for them to finish")
            self.queued += 1
            task = asyncio.create_task(self._after(self.typing, msg))
        else:
            task = apply_input(self.session, msg)
        if task is not None:
            self.typing = task
            task.add_done_callback(self._typed)

    async def _after(self, previous: asyncio.Task[None], msg: dict[str, Any]) -> None:
        """Apply a type/press message once *previous* typing ended (however it ended)."""
        try:
            await asyncio.wait([previous])
        finally:
            self.queued -= 1
        task = apply_input(self.session, msg)
        if task is not None:
            await task

    def _typed(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            e = task.exception()
            self.viewer.offer_text({"type": "error", "message": getattr(e, "message", str(e))})

    def on_close(self) -> None:
        session = getattr(self, "session", None)
        if session is not None:
            session.detach(self.viewer)


def _finish_binary(handler: KSHandler, data: bytes, content_type: str) -> None:
    """Answer bytes (APIHandler.finish would force application/json)."""
    handler.set_header("Content-Type", content_type)
    handler.set_header("Cache-Control", "no-store")
    JupyterHandler.finish(handler, data)


def _binary(media: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": {"type": "string"}}}}


#: 409: the VM is not running or its console cannot be opened (console_unavailable);
#: 504: its QEMU does not respond (vm_unresponsive)
_CONSOLE_ERRORS = S.errors(400, 404, 409, 504)

_POINTER = {
    "type": "object",
    "additionalProperties": False,
    "required": ["x", "y"],
    "properties": {
        "x": {"type": "integer", "minimum": 0, "maximum": 65535},
        "y": {"type": "integer", "minimum": 0, "maximum": 65535},
        "buttons": {"type": "integer", "minimum": 0, "maximum": 255},
    },
}
INPUT_SCHEMA = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    "additionalProperties": False,
    "properties": {
        "text": {"type": "string", "maxLength": 4096, "description": "typed, US layout"},
        "press": {"type": "string", "minLength": 1, "maxLength": 200,
                  "description": "a key combination, e.g. ctrl+alt+delete"},
        "pointer": _POINTER,
    },
}  # fmt: skip


class _ConsoleREST(KSHandler):
    input_error = BadInput

    async def _session(self, name: str) -> Any:
        """The VM's console session; 404 for no such VM, 504 at once when its QEMU
        does not respond (the console would only wait out its timeout)."""
        self._check_responsive(await _vm_info(self, name))
        return consoles(self).session(await console_key(self, name))

    async def _frame(self, session: Any, name: str) -> Any:
        try:
            return await session.frame()
        except ConsoleUnavailable:  # it may have stopped answering meanwhile: say so
            self._check_responsive(await _vm_info(self, name))
            raise

    @staticmethod
    def _check_responsive(info: dict[str, Any]) -> None:
        from ..vm.guard import unresponsive_error

        if info.get("responsive") is False:
            raise unresponsive_error(info["name"], info.get("unresponsive_reason") or "no answer")


class ScreenshotHandler(_ConsoleREST):
    openapi = {
        "get": {
            "summary": "The VM's screen now, as PNG (connects to its console if needed)",
            "responses": {"200": _binary("image/png", "PNG"), **_CONSOLE_ERRORS},
        }
    }

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        from ..console.framebuffer import encode_png

        session = await self._session(name)
        pixels = await self._frame(session, name)
        png = await asyncio.to_thread(encode_png, pixels, 1)
        _finish_binary(self, png, "image/png")


class FramebufferHandler(_ConsoleREST):
    openapi = {
        "get": {
            "summary": "The VM's screen now as raw RGBA bytes (H x W x 4); the size is in "
            "X-Framebuffer-Width / X-Framebuffer-Height",
            "responses": {
                "200": _binary("application/octet-stream", "RGBA pixels, row by row"),
                **_CONSOLE_ERRORS,
            },
        }
    }

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        session = await self._session(name)
        pixels = await self._frame(session, name)
        self.set_header("X-Framebuffer-Width", str(pixels.shape[1]))
        self.set_header("X-Framebuffer-Height", str(pixels.shape[0]))
        _finish_binary(self, pixels.tobytes(), "application/octet-stream")


class InputHandler(_ConsoleREST):
    """``{"text": "..."}`` types, ``{"press": "ctrl+alt+delete"}`` presses,
    ``{"pointer": {"x", "y", "buttons"}}`` moves/clicks; answers when done."""

    body_schema = {"post": INPUT_SCHEMA}
    openapi = {
        "post": {
            "summary": "Type text, press a key combination, or move/click the pointer",
            "responses": {
                "200": S.ok({"type": "object", "required": ["name", "done"]}),
                **_CONSOLE_ERRORS,
            },
        }
    }

    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        from ..console.keys import combo_events, text_chords
        from ..console.typist import type_text

        body = self.body  # checked against INPUT_SCHEMA: exactly one known key
        session = await self._session(name)
        if "text" in body:  # libvirt send-key: 4x faster than over VNC (typist.py)
            text = _str(body, "text", 4096)
            text_chords(text)  # untypable text: 400 before anything is sent
            await type_text(session.backend, name, text, _vnc_typing(session))
        elif "press" in body:
            await session.send_keys(combo_events(_str(body, "press", 200)))
        else:
            p = body["pointer"]
            if not isinstance(p, dict):
                raise BadInput("'pointer' must be an object {x, y, buttons}")
            async with session.hold():
                session.pointer(
                    _int(p, "x"), _int(p, "y"), _int(p, "buttons", 0, 255) if "buttons" in p else 0
                )
        self.send_json({"name": name, "done": True})


class PreviewHandler(KSHandler):
    openapi = {
        "get": {
            "summary": "The VM's last console frame (PNG), kept when its console closed or "
            "the VM stopped; 404 until there is one",
            "responses": {"200": _binary("image/png", "PNG"), **S.errors(400, 404)},
        }
    }

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        info = await _vm_info(self, name)
        try:
            if not info.get("preview_path"):  # named only once one exists
                raise FileNotFoundError(name)
            data = await asyncio.to_thread(Path(info["preview_path"]).read_bytes)
        except FileNotFoundError:
            raise web.HTTPError(
                404, f"VM {name!r} has no preview yet: one is kept when its console closes"
            ) from None
        _finish_binary(self, data, "image/png")


def routes(api: str) -> list[tuple[str, Any]]:
    name = r"(?P<name>[^/]+)"
    return [
        (rf"{api}/vms/{name}/console/?", ConsoleSocket),
        (rf"{api}/vms/{name}/console/input/?", InputHandler),
        (rf"{api}/vms/{name}/screenshot/?", ScreenshotHandler),
        (rf"{api}/vms/{name}/framebuffer/?", FramebufferHandler),
        (rf"{api}/vms/{name}/preview/?", PreviewHandler),
    ]
