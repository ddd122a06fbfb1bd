"""The events websocket and VM thumbnails.

- websocket ``events`` (authenticated, same origin only: the console's rules,
  :class:`~.console_handlers.SameOriginSocket`)
- ``GET vms/{name}/thumbnail`` (PNG, at most 240 px wide)

Server -> client, JSON text. First one ``{"type": "snapshot", "vms": [records
as GET vms gives them, each with "uri" and "thumbnail_version"], "envs_version",
"hosts": [{"uri", "state": "up"|"down", "reason"?}]}``, then one message per
change: ``vm {name, uri, state, reason}``, ``vm_defined {name, uri, vm}``,
``vm_undefined {name, uri}``, ``media {name, uri, device, tray}`` (also after a
snapshot revert that moved a tray or changed a disc: :func:`tell_media_changes`),
``thumbnail {name, uri, version}``, ``envs {version}``, ``host {uri, state,
reason?}``. A slow client gets the latest of each (:mod:`kernelswitch.hub`),
never a backlog; one with over 10,000 things pending is closed (1013) and
gets a fresh snapshot when it reconnects.

Client -> server: ``{"type": "thumbnails", "visible": bool}`` (a list of VMs
is on screen: screenshot thumbnails are taken only while one is);
``{"type": "stats", "watch": bool}``: while on, this client also gets
``{"type": "stats", name, uri, sample}`` about every second per running VM
(see :mod:`kernelswitch.vm.stats`; sampled only while someone watches). A bad
message gets ``{"type": "error", "message"}``.

``GET vms/{name}/stats?seconds=300``: that VM's recent samples (the caller
counts as a watcher for 30 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from typing import Any

from jupyter_server.auth.decorator import authorized, ws_authenticated
from tornado import web
from tornado.websocket import WebSocketClosedError

from ..console.errors import BadInput
from ..vm.hosts.refs import split_ref
from . import schemas as S
from ._base import KSHandler
from .console_handlers import SameOriginSocket, _binary, _finish_binary, _vm_info

#: Largest message a client may send (only small JSON objects are expected).
MAX_CLIENT_MESSAGE = 4096
#: Kernel send buffer of an events socket: what the OS holds for a stalled client
#: is history we can no longer coalesce, so keep it small (messages are ~100 B).
SEND_BUFFER = 16 * 1024


def events(settings: dict[str, Any]) -> Any:
    """The server's :class:`~kernelswitch.hub.service.EventService`, made on first use."""
    service = settings.get("kernelswitch_events")
    if service is None:
        from ..hub.service import EventService

        app = settings["kernelswitch_app"]

        def env_version() -> int:
            watcher = getattr(app, "env_watcher", None)
            return int(watcher.generation) if watcher is not None else 0

        def sessions() -> dict[str, Any]:
            registry = settings.get("kernelswitch_consoles")
            return registry.sessions if registry is not None else {}

        service = settings["kernelswitch_events"] = EventService(
            app.vm_manager, env_version, sessions
        )
    return service


def tell_media_changes(settings: dict[str, Any], before: dict[str, Any],
                       after: dict[str, Any]) -> None:  # fmt: skip
    """A ``media`` message for each CD/DVD drive whose tray or disc differs between
    two records of one VM (*before* and *after* a snapshot revert).

    Why the server says it: reverting restores the tray with the guest's memory
    and libvirt records it, but neither QEMU nor libvirt sends a tray event for
    it, so every UI kept the tray the last event told. ``device`` is the drive's
    target (``sda``), as the UIs match it. Nobody watches before the first
    events client: then there is no service and nothing to tell."""
    service = settings.get("kernelswitch_events")
    if service is None:
        return
    old = {m["target"]: (m["tray"], m["path"]) for m in before.get("media") or []}
    for m in after.get("media") or []:
        if old.get(m["target"]) != (m["tray"], m["path"]):
            service.hub.publish({"type": "media", "name": after["name"], "uri": after["uri"],
                                 "device": m["target"], "tray": m["tray"]})  # fmt: skip


class EventsSocket(SameOriginSocket):
    """``events``: a snapshot, then every change (see the module docstring)."""

    what = "events websocket"

    @property
    def max_message_size(self) -> int:
        return MAX_CLIENT_MESSAGE

    @ws_authenticated
    async def get(self) -> None:
        await self.authorize("read", "not allowed to watch kernelswitch events")
        self.service = events(self.settings)
        try:
            await self.service.start()
        except Exception as e:  # libvirt missing entirely: refuse before upgrading
            raise web.HTTPError(getattr(e, "http_status", 500), str(e)) from e
        await super().get()

    def open(self) -> None:
        super().open()
        sock = getattr(self.ws_connection, "stream", None)
        with contextlib.suppress(Exception):
            sock.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)  # type: ignore[union-attr]
        self.sub = self.service.hub.subscribe()
        self.pump = asyncio.ensure_future(self._pump())

    async def _pump(self) -> None:
        """Send the snapshot, then what the subscriber holds, one write at a time
        (awaiting only this client's socket: a slow one coalesces meanwhile)."""
        try:
            await self.write_message(json.dumps(await self.service.snapshot()))
            while (msg := await self.sub.get()) is not None:
                await self.write_message(json.dumps(msg))
            if self.sub.reason:
                self.close(1013, self.sub.reason[:120])
        except WebSocketClosedError:
            pass
        except Exception as e:  # a snapshot that failed (libvirt down): say so, let it retry
            self.log.warning("kernelswitch: events websocket ended: %s", e)
            with contextlib.suppress(WebSocketClosedError):
                await self.write_message(json.dumps({"type": "error", "message": str(e)}))
            self.close(1011, "cannot read the VMs now; try again")

    def on_message(self, message: str | bytes) -> None:
        try:
            msg = json.loads(message) if isinstance(message, str) else None
        except ValueError:
            msg = None
        if isinstance(msg, dict) and msg.get("type") == "thumbnails":
            self.service.set_visible(self, msg.get("visible") is True)
            return
        if isinstance(msg, dict) and msg.get("type") == "stats":
            self.service.watch_stats(self, self.sub, msg.get("watch") is True)
            return
        self.write_message(json.dumps({"type": "error", "message": (
            'expected {"type": "thumbnails", "visible": true|false} or '
            '{"type": "stats", "watch": true|false} as JSON text'
        )}))  # fmt: skip

    def on_close(self) -> None:
        service = getattr(self, "service", None)
        if service is None or not hasattr(self, "sub"):
            return
        service.hub.unsubscribe(self.sub)
        service.set_visible(self, False)
        service.watch_stats(self, self.sub, False)
        self.pump.cancel()


class ThumbnailHandler(KSHandler):
    openapi = {
        "get": {
            "summary": "A small picture of the VM's screen (PNG, at most 240 px wide): live "
            "for a running VM, its last preview for a stopped one; 404 until there is one",
            "responses": {"200": _binary("image/png", "PNG"), **S.errors(400, 404)},
        }
    }

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        service = events(self.settings)
        plain, uri = split_ref(name)  # ?uri= made *name* a ref: the hub keys (uri, plain name)
        # a running VM the hub knows (one URI has it): the last thumbnail, no libvirt call
        live = [k for k in service.hub.running() if k[1] == plain and uri in (None, k[0])]
        png = service.thumbnails.cached(*live[0]) if len(live) == 1 else None
        if png is not None:
            _finish_binary(self, png, "image/png")
            return
        info = await _vm_info(self, name)
        png = await service.thumbnails.png(
            info["uri"], info["name"], info["state"], info.get("preview_path")
        )
        if png is None:
            raise web.HTTPError(
                404, f"VM {name!r} has no thumbnail yet: start it, or open its console once"
            )
        _finish_binary(self, png, "image/png")


class StatsHandler(KSHandler):
    openapi = {
        "get": {
            "summary": "Recent live stats of a running VM (one sample a second, up to 300 s): "
            "cpu (% of its vCPUs), memory_used/memory_total (bytes), disk_read/disk_write "
            "and net_rx/net_tx (bytes/s). Sampling runs while someone asks (30 s per call)",
            "parameters": [{"name": "seconds", "in": "query", "required": False,
                            "schema": {"type": "number", "minimum": 1, "maximum": 300}}],
            "responses": {"200": S.ok({"type": "object"}), **S.errors(400, 404)},
        }
    }

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        raw = self.get_argument("seconds", "300")
        try:
            seconds = float(raw)
            if not 1 <= seconds <= 300:
                raise ValueError
        except ValueError:
            raise BadInput(f"'seconds' must be a number from 1 to 300, not {raw!r}") from None
        service = events(self.settings)
        await service.start()
        info = await _vm_info(self, name)
        samples = await service.stats.history(info["uri"], info["name"], seconds)
        self.finish({"name": info["name"], "uri": info["uri"], "state": info["state"],
                     "interval": service.stats.interval, "samples": samples})  # fmt: skip


def routes(api: str) -> list[tuple[str, Any]]:
    return [
        (rf"{api}/events/?", EventsSocket),
        (rf"{api}/vms/(?P<name>[^/]+)/stats/?", StatsHandler),
        (rf"{api}/vms/(?P<name>[^/]+)/thumbnail/?", ThumbnailHandler),
    ]
