"""One live console per VM, shared by every viewer (fan-out), and the registry.

Public API (stable):

- :class:`ConsoleRegistry` ``(backend)``: ``session(name)`` (one
  :class:`ConsoleSession` per VM), ``close_all()``.
- :class:`ConsoleSession`: ``attach(viewer)`` / ``detach(viewer)``,
  ``hold()`` (an async context manager for Python callers: keeps the RFB
  client while in use), ``await frame()`` (current pixels, HxWx4 RGBA),
  ``await send_keys(events)``, ``pointer(x, y, buttons)``, ``resize(w, h)``,
  ``status`` (connecting / connected / reconnecting / stopped / error).
- :class:`Viewer`: what a websocket handler subclasses (``send_bytes`` /
  ``send_text``); the session offers it updates and it sends them at its pace.

Why this shape: one RFB connection per VM however many viewers (QEMU encodes
once), and none at all while no one watches: the session connects on the
first viewer or Python call and disconnects ``linger`` seconds after the last
leaves. A viewer that cannot keep up never slows the others: every update is
encoded once for the viewers that are idle; a busy viewer only accumulates
the rectangles it missed and, when its socket drains, gets their *current*
pixels in one message (it skips frames, it never queues them).

When the last viewer leaves, and when the VM stops, the last frame is written
as the VM's preview PNG (atomically).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np

from . import encoders
from .backend import LIVE_STATES, Backend
from .errors import ConsoleUnavailable
from .framebuffer import Framebuffer, write_png_atomic
from .keys import KeyEvent
from .rfb import Handlers, Rect, RFBClient
from .shadow import Shadow
from .viewer import Viewer

log = logging.getLogger(__name__)

#: Seconds a session stays connected after its last user left.
LINGER = 10.0
RETRY = 1.0
#: Updates up to this many changed pixels are encoded on the event loop (~1 ms).
INLINE_PIXELS = 1 << 18
#: Seconds after the first update before a screen never painted in full is served
#: anyway (a QEMU that never answers a full request must not block screenshots).
FIRST_FRAME_GRACE = 5.0


class ConsoleSession:
    """The console of one VM: an RFB client while anyone uses it."""

    #: Ask QEMU for zlib rects instead of Raw. Off: Raw measured as fast and cheaper
    #: (the session in-process with one viewer, scrolling guest, 3 interleaved pairs:
    #: Raw 31.8-33.3 updates/s at 0.085-0.101 core, zlib 26.2-33.3/s at 0.089-0.129;
    #: benchmarks/console.py prints the bare client with either).
    qemu_zlib = False
    #: Per-tile palettes (encoders.DATA_PALETTE); KERNELSWITCH_CONSOLE_RGBA=1 sends
    #: zlib'd RGBA as before (benchmarks/console.py's baseline, same browser code).
    palette = os.environ.get("KERNELSWITCH_CONSOLE_RGBA") != "1"
    #: Reuse what the browsers hold (copies for scrolled rows, nothing for tiles
    #: that did not change: :mod:`.shadow`); KERNELSWITCH_CONSOLE_COPY=0 turns it
    #: off (benchmarks/console.py's "before", same browser code).
    copy = palette and os.environ.get("KERNELSWITCH_CONSOLE_COPY") != "0"

    def __init__(self, name: str, backend: Backend, *, linger: float = LINGER) -> None:
        self.name = name
        #: for people: a name that carries its host (a fleet ref) reads "NAME on URI"
        self.label = name.replace("\x1f", " on ")
        self.backend = backend
        self.linger = linger
        self.viewers: set[Viewer] = set()
        self.fb = Framebuffer(0, 0)
        self.client: RFBClient | None = None
        self.status = "idle"
        self.message = ""
        self._holds = 0
        self._task: asyncio.Task[None] | None = None
        self._linger_handle: asyncio.TimerHandle | None = None
        self._connected = asyncio.Event()
        #: set whenever the status changes: waiters re-check (connected, stopped, error)
        self._status_changed = asyncio.Event()
        self._update_waiters: set[asyncio.Future[None]] = set()  # wait_update() calls
        self._audio_on = False
        self._has_frame = False
        self._saving: set[asyncio.Task[None]] = set()
        self._to_encode: list[Rect] = []
        self._encoder: asyncio.Task[None] | None = None
        self._grace: asyncio.TimerHandle | None = None
        #: what every viewer in step shows; stale once updates came with no viewer
        self.shadow = Shadow()
        self._shadow_stale = True
        #: clear while a thread changes the shadow (viewers catching up wait)
        self.shadow_free = asyncio.Event()
        self.shadow_free.set()

    # ------------------------------------------------------------ users

    @property
    def users(self) -> int:
        return len(self.viewers) + self._holds

    def attach(self, viewer: Viewer) -> None:
        if not self.viewers and self._shadow_stale and self.shadow_free.is_set():
            self.shadow.reset(self.fb)  # no one holds older pixels: start from now
            self._shadow_stale = False
        viewer.session = self
        self.viewers.add(viewer)
        viewer.start()
        viewer.offer_text(self.status_message())
        # the screen it has: live, or the last one of a stopped VM (kept with
        # its framebuffer), so a console opened on it shows that at once
        kept = self.client is not None or self.status == "stopped"
        if self.copy and self.shadow.fb.width:  # updates assume the shadow's pixels
            viewer.offer([(0, 0, self.shadow.fb.width, self.shadow.fb.height)], None)
        elif kept and self._has_frame and self.fb.width:
            viewer.offer([(0, 0, self.fb.width, self.fb.height)], None)
        self._in_use()

    def detach(self, viewer: Viewer) -> None:
        self.viewers.discard(viewer)
        viewer.stop()
        self.update_audio()
        self._maybe_idle()

    @contextlib.asynccontextmanager
    async def hold(self, timeout: float = 30.0) -> AsyncIterator[ConsoleSession]:
        """Keep the console connected while a Python caller uses it."""
        self._holds += 1
        self._in_use()
        try:
            await self.wait_connected(timeout)
            yield self
        finally:
            self._holds -= 1
            self._maybe_idle()

    async def wait_connected(self, timeout: float) -> None:
        """Until the first frame arrived; fails at once when the VM is stopped or
        its console cannot be opened (no reason to wait the whole *timeout*)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._connected.is_set():
            if self.status in ("stopped", "error"):
                break
            left = deadline - loop.time()
            if left <= 0:
                break
            self._status_changed.clear()
            waits = [asyncio.ensure_future(self._connected.wait()),
                     asyncio.ensure_future(self._status_changed.wait())]  # fmt: skip
            await asyncio.wait(waits, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                w.cancel()
        if self._connected.is_set():
            return
        raise ConsoleUnavailable(
            f"The console of VM {self.label!r} is {self.status}"
            + (f": {self.message}" if self.message else "")
            + ". Start the VM (`%vm start NAME`) and try again.",
            details={"name": self.name, "status": self.status},
        )

    def _in_use(self) -> None:
        if self._linger_handle is not None:
            self._linger_handle.cancel()
            self._linger_handle = None
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"console-{self.name}")
        if self.client is not None:
            self.client.want_updates(True)
            if self.viewers:
                self.client.refresh()

    def _maybe_idle(self) -> None:
        if self.users:
            return
        if self.client is not None:
            self.client.want_updates(False)
        self.save_preview_soon()
        if self._linger_handle is None:
            loop = asyncio.get_running_loop()
            self._linger_handle = loop.call_later(self.linger, self._stop_if_unused)

    def _stop_if_unused(self) -> None:
        self._linger_handle = None
        if not self.users and self._task is not None:
            self._task.cancel()

    # ------------------------------------------------------------ connection

    def _set_status(self, status: str, message: str = "") -> None:
        if (status, message) == (self.status, self.message):
            return
        self.status, self.message = status, message
        self._status_changed.set()
        log.debug("console vm=%s status=%s %s", self.name, status, message)
        msg = self.status_message()
        for v in self.viewers:
            v.offer_text(msg)

    def status_message(self) -> dict[str, Any]:
        return {
            "type": "status", "state": self.status, "message": self.message,
            "width": self.fb.width, "height": self.fb.height,
        }  # fmt: skip

    async def _run(self) -> None:
        try:
            self._set_status("connecting")
            while self.users:
                state = await self._state()
                if state not in LIVE_STATES:
                    await self._stopped(state)
                    await asyncio.sleep(RETRY)
                    continue
                if self.status == "stopped":
                    self._set_status("reconnecting", "the VM is starting")
                try:
                    transport = await self.backend.open(self.name)
                    client = await RFBClient.open(transport, self._handlers(), zlib=self.qemu_zlib)
                except Exception as e:  # QEMU starting or going: say so, try again
                    log.debug("console vm=%s connect failed: %s", self.name, e)
                    self._set_status("error", getattr(e, "message", str(e)))
                    await asyncio.sleep(RETRY)
                    continue
                await self._connected_to(client)
                try:
                    await client.run()
                finally:
                    client.close()
                    self.client = None
                    self._connected.clear()
                    self.save_preview_soon()
                self._set_status("reconnecting", "the console connection ended")
        except asyncio.CancelledError:
            pass
        finally:
            if self.client is not None:
                self.client.close()
                self.client = None
            self._connected.clear()
            self._audio_on = False
            if self.status != "stopped":
                self._set_status("idle")

    async def _state(self) -> str:
        try:
            return await self.backend.state(self.name)
        except Exception as e:
            self._set_status("error", str(e))
            return "unknown"

    async def _stopped(self, state: str) -> None:
        if self.status != "stopped" and state != "unknown":
            # preview first: whoever sees "stopped" finds the VM's last frame kept
            await self._save_preview()
            said = {"shutoff": "shut off", "crashed": "crashed"}.get(state, state)
            self._set_status(
                "stopped", f"{self.label} is {said}; its last screen is shown. Start it to use it."
            )

    async def _connected_to(self, client: RFBClient) -> None:
        # the client painted into its own framebuffer: share it (same object)
        self.fb = client.fb
        self._has_frame = False
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
        self.client = client
        self._audio_on = False
        client.want_updates(bool(self.users))
        self._set_status("connected", client.name)
        self.update_audio()

    def _handlers(self) -> Handlers:
        return Handlers(
            update=self._on_update, resize=self._on_resize, audio=self._on_audio,
            leds=self._on_leds,
        )  # fmt: skip

    def _on_update(self, rects: list[Rect]) -> None:
        if not self._has_frame:
            self._first_update(rects)
        if not self.viewers:
            self._shadow_stale = True
        else:
            self._to_encode.extend(rects)
            if self._encoder is None or self._encoder.done():
                self._encoder = asyncio.get_running_loop().create_task(self._encode())
        # wake wait_update() callers directly: no task or lock per update
        for waiter in self._update_waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _first_update(self, rects: list[Rect]) -> None:
        """The console counts as connected (screenshots, frames, thumbnails answered)
        only once the whole screen was painted: the first message QEMU sends is
        often just the screen size, which left a black first screenshot."""
        client = self.client
        if client is None or client.complete:
            self._has_frame = True
            self._connected.set()
        elif self._grace is None:
            self._grace = asyncio.get_running_loop().call_later(
                FIRST_FRAME_GRACE, self._grace_over, client
            )

    def _grace_over(self, client: RFBClient) -> None:
        self._grace = None
        if self.client is client and not self._has_frame:
            log.debug("console vm=%s: no full screen after %ss", self.name, FIRST_FRAME_GRACE)
            self._has_frame = True
            self._connected.set()

    @property
    def ready(self) -> bool:
        """Connected and its whole screen painted: the pixels are the guest's."""
        return self.status == "connected" and self._has_frame

    async def _encode(self) -> None:
        """Encode pending updates for the viewers that are keeping up; updates
        that arrive meanwhile are merged into the next message. Small updates
        are encoded right here: handing ~1 ms of work to a thread cost more
        than it saved (the session in-process with one viewer on a scrolling
        guest, 6 interleaved pairs: 31.4-33.4 vs 26.1-33.3 updates/s, 0.082-0.104
        vs 0.089-0.124 core; the RFB request for the next update is already
        out, so reading loses nothing). Big ones (a new screen, a video) go to a thread, so the
        server's event loop never stalls for a whole frame's zlib."""
        while self._to_encode and self.viewers:
            rects, self._to_encode = self._to_encode, []
            idle = [v for v in self.viewers if not v._busy and not v._rects]
            payload = None
            if not self.copy:  # pixels of every dirty tile, from the framebuffer
                if idle and sum(w * h for _x, _y, w, h in rects) <= INLINE_PIXELS:
                    payload = encoders.encode_update(self.fb, rects, palette=self.palette)
                elif idle:
                    payload = await asyncio.to_thread(
                        encoders.encode_update, self.fb, rects, palette=self.palette
                    )
            elif not idle or sum(w * h for _x, _y, w, h in rects) <= INLINE_PIXELS:
                payload = self.shadow.update(self.fb, rects, encode=bool(idle))
            else:
                self.shadow_free.clear()
                try:
                    payload = await asyncio.to_thread(
                        self.shadow.update, self.fb, rects, snapshot=True
                    )
                finally:
                    self.shadow_free.set()
            for v in self.viewers:
                v.offer(rects, payload)

    def _on_resize(self, w: int, h: int) -> None:
        msg = self.status_message()
        for v in self.viewers:
            v.offer_text(msg)

    def _on_audio(self, pcm: bytes) -> None:
        data = encoders.encode_audio(pcm)
        for v in self.viewers:
            if v.wants_audio:
                v.offer_audio(data)

    def _on_leds(self, state: int) -> None:
        msg = {"type": "leds", "scroll": bool(state & 1), "num": bool(state & 2),
               "caps": bool(state & 4)}  # fmt: skip
        for v in self.viewers:
            v.offer_text(msg)

    def update_audio(self) -> None:
        """Stream audio from QEMU only while some viewer plays it."""
        want = any(v.wants_audio for v in self.viewers)
        if self.client is not None and want != self._audio_on:
            self.client.audio(want)
            self._audio_on = want

    # ------------------------------------------------------------ python API

    async def frame(self, timeout: float = 30.0) -> np.ndarray:
        async with self.hold(timeout):
            return self.fb.copy()

    async def wait_update(self, timeout: float) -> bool:
        """True when the screen changed within *timeout* seconds."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._update_waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            self._update_waiters.discard(waiter)

    async def send_keys(self, events: list[KeyEvent], delay: float = 0.01) -> None:
        """Press/release events in order, paced so the guest sees every one."""
        async with self.hold():
            for qnum, keysym, down in events:
                if self.client is None:
                    raise ConsoleUnavailable(f"The console of VM {self.label!r} went away.")
                self.client.key(qnum, keysym, down)
                await self.client.writer.drain()
                await asyncio.sleep(delay)

    def key(self, qnum: int, keysym: int, down: bool) -> None:
        if self.client is not None:
            self.client.key(qnum, keysym, down)

    def pointer(self, x: int, y: int, buttons: int) -> None:
        if self.client is not None:
            self.client.pointer(x, y, buttons)

    def resize(self, width: int, height: int) -> None:
        if self.client is not None:
            self.client.set_desktop_size(width, height)

    # ------------------------------------------------------------ previews

    def save_preview_soon(self) -> None:
        if self._has_frame:
            task = asyncio.get_running_loop().create_task(self._save_preview())
            self._saving.add(task)
            task.add_done_callback(self._saving.discard)

    async def _save_preview(self) -> None:
        if not self._has_frame or self.fb.width == 0:
            return
        pixels = self.fb.copy()
        path: Path | None = None
        try:
            path = await self.backend.preview_path(self.name)
            await asyncio.to_thread(write_png_atomic, pixels, path)
            # deleted meanwhile (delete --force stops the console): not outliving the VM
            await self.backend.state(self.name)
            log.debug("console vm=%s preview %s", self.name, path)
        except Exception as e:  # a preview is a nicety: never fail the console for it
            if getattr(e, "code", None) == "vm_not_found" and path is not None:
                path.unlink(missing_ok=True)
                return
            log.warning("kernelswitch: cannot save the preview of %s: %s", self.name, e)


class ConsoleRegistry:
    """One :class:`ConsoleSession` per VM name."""

    def __init__(self, backend: Backend, *, linger: float = LINGER) -> None:
        self.backend = backend
        self.linger = linger
        self.sessions: dict[str, ConsoleSession] = {}

    def session(self, name: str) -> ConsoleSession:
        s = self.sessions.get(name)
        if s is None:
            s = self.sessions[name] = ConsoleSession(name, self.backend, linger=self.linger)
        return s

    async def close_all(self) -> None:
        for s in list(self.sessions.values()):
            for v in list(s.viewers):
                s.detach(v)
            if s._task is not None:
                s._task.cancel()
                with contextlib.suppress(BaseException):
                    await s._task
            if s._saving:  # previews being written: let them land
                await asyncio.wait(set(s._saving))
        self.sessions.clear()
