"""One consumer of a console session's frames (a websocket, the benchmark...).

Public API (stable): :class:`Viewer` — subclass it with ``send_bytes`` and
``send_text``; set ``wants_audio``. The session calls ``offer*``; the viewer's
own task sends at the pace its transport allows.

Why offers and not a queue: a viewer that cannot keep up must never slow the
others nor grow memory. While it is busy sending, new updates only add their
rectangles to its pending list; when it is free again it sends those
rectangles' *current* pixels in one message. A viewer that keeps up gets the
bytes the session encoded once for everyone.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import TYPE_CHECKING, Any

from . import encoders
from .rfb import Rect

if TYPE_CHECKING:
    from .session import ConsoleSession

#: Audio kept for a busy viewer before the oldest is dropped (~0.5 s of S16 stereo).
AUDIO_BACKLOG = 48
#: Pending rects of a busy viewer beyond which they are folded into tiles
#: (QEMU sends ~250 per update of a scrolling console).
MAX_PENDING_RECTS = 4096


class Viewer:
    """Subclass with :meth:`send_bytes` / :meth:`send_text`."""

    wants_audio = False

    def __init__(self) -> None:
        self.session: ConsoleSession | None = None
        self._rects: list[Rect] = []
        self._payload: bytes | None = None
        self._texts: deque[str] = deque()
        self._audio: deque[bytes] = deque(maxlen=AUDIO_BACKLOG)
        self._wake = asyncio.Event()
        self._busy = False
        self._task: asyncio.Task[None] | None = None
        self.sent_bytes = 0
        self.sent_updates = 0

    async def send_bytes(self, data: bytes) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    async def send_text(self, text: str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # called by the session
    def offer(self, rects: list[Rect], payload: bytes | None) -> None:
        if not self._busy and not self._rects and payload is not None:
            self._payload = payload  # keeping up: the shared bytes will do
        else:
            self._payload = None
        self._rects.extend(rects)
        if len(self._rects) > MAX_PENDING_RECTS and self.session is not None:
            fb = self.session.fb
            self._rects = encoders.dirty_tiles(self._rects, fb.width, fb.height)
        self._wake.set()

    def offer_text(self, msg: dict[str, Any]) -> None:
        self._texts.append(json.dumps(msg))
        self._wake.set()

    def offer_audio(self, data: bytes) -> None:
        self._audio.append(data)
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="console-viewer")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._texts:
                await self.send_text(self._texts.popleft())
            while self._audio:
                await self.send_bytes(self._audio.popleft())
            session = self.session
            if self._rects and session is not None:
                if self._payload is None and session.copy:
                    await session.shadow_free.wait()  # a thread is changing the shadow
                rects, payload = self._rects, self._payload
                self._rects, self._payload = [], None
                if payload is None and session.copy:
                    # the shadow's pixels: this browser is in step with it again
                    payload = session.shadow.catch_up(rects)
                elif payload is None:
                    payload = encoders.encode_update(session.fb, rects, palette=session.palette)
                if not payload:  # nothing changed that the browser does not have
                    continue
                self._busy = True
                try:
                    await self.send_bytes(payload)
                finally:
                    self._busy = False
                self.sent_bytes += len(payload)
                self.sent_updates += 1
