"""Small live pictures of running VMs, for lists (the VM sidebar, the manager).

Public API (stable): :class:`Thumbnails` ``(fleet, running, sessions, publish)``
with ``set_visible(on)``, ``await png(uri, name, state, preview_path)``,
``cached(uri, name)``,
``version(uri, name)``, ``stopped(uri, name)``; :data:`WIDTH`,
:data:`SHOT_EVERY`; :func:`screenshot` (one libvirt screenshot as an image).

Where a thumbnail comes from, cheapest first:

- a VM whose console is open here: its session's framebuffer (already in
  memory), at most every :data:`FB_EVERY` s and only when it changed;
- another running VM: a libvirt screenshot (QEMU's screendump, streamed by
  libvirt, as ``virsh screenshot`` and GNOME Boxes take them; it works on
  remote URIs too, where consoles need a tunnel) at most every
  :data:`SHOT_EVERY` s, and only while some client shows thumbnails
  (``set_visible``): nobody looking, nothing taken;
- a stopped VM: the newer of its preview (the last console frame, written
  when its console closes or it stops) and the last thumbnail taken.

Each new picture (only when its pixels changed) bumps the VM's version and is
published as ``{"type": "thumbnail", "name", "uri", "version"}``.
``benchmarks/thumbnails.py`` measures the cost per running VM.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Widest thumbnail in pixels (the sidebar is 250 px at its default width).
WIDTH = 240
#: Least seconds between two libvirt screenshots of one VM.
SHOT_EVERY = 5.0
#: Least seconds between two thumbnails from an open console's framebuffer.
FB_EVERY = 1.0
#: Seconds between two looks at the running VMs while thumbnails are visible.
TICK = 1.0
#: Seconds after a VM stopped before its preview is announced (the console writes it).
PREVIEW_SETTLE = 1.5

Key = tuple[str, str]


@dataclass
class _Thumb:
    png: bytes = b""
    taken: float = 0.0  # time.time() of png
    version: int = 0
    digest: bytes = b""
    shot_at: float = -1e9
    fb_at: float = -1e9
    fb_version: int = -1
    preview: tuple[str, float] | None = None  # (path, mtime) of the cached preview thumbnail
    preview_png: bytes = b""


def reduce_to_png(image: Any, width: int = WIDTH) -> tuple[bytes, bytes]:
    """(PNG, digest of the pixels) of a PIL image scaled down to at most *width*."""
    factor = max(1, -(-image.width // width))  # ceil: box-average whole pixels (fast)
    small = image.convert("RGB")
    if factor > 1:
        small = small.reduce(factor)
    digest = hashlib.blake2b(small.tobytes(), digest_size=16).digest()
    out = io.BytesIO()
    small.save(out, "PNG", compress_level=1)
    return out.getvalue(), digest


def _from_pixels(pixels: Any) -> tuple[bytes, bytes]:
    from PIL import Image

    return reduce_to_png(Image.fromarray(pixels, "RGBA"))


def _from_file(path: str) -> bytes:
    from PIL import Image

    with Image.open(path) as img:
        return reduce_to_png(img)[0]


def screenshot(conn: Any, name: str) -> Any:
    """The VM's screen now as a PIL image (libvirt's screenshot stream)."""
    from PIL import Image

    dom = conn.lookupByName(name)
    stream = conn.newStream(0)
    chunks: list[bytes] = []
    try:
        dom.screenshot(stream, 0, 0)
        while True:
            data = stream.recv(1 << 18)
            if not isinstance(data, bytes) or not data:
                break
            chunks.append(data)
        stream.finish()
    except BaseException:
        with contextlib.suppress(Exception):
            stream.abort()
        raise
    image = Image.open(io.BytesIO(b"".join(chunks)))
    image.load()
    return image


class Thumbnails:
    """Thumbnails of every VM of a fleet (see the module docstring)."""

    def __init__(
        self,
        fleet: Any,
        running: Callable[[], list[Key]],
        sessions: Callable[[], dict[str, Any]],
        publish: Callable[[dict[str, Any]], None],
    ) -> None:
        self.managers = {m.uri: m for m in fleet.managers}
        self._running = running
        self._sessions = sessions
        self._publish = publish
        self._items: dict[Key, _Thumb] = {}
        self._task: asyncio.Task[None] | None = None
        self.visible = False

    def cached(self, uri: str, name: str) -> bytes | None:
        """The last thumbnail taken of a running VM, if any (no libvirt call)."""
        t = self._items.get((uri, name))
        return t.png if t and t.png else None

    def version(self, uri: str, name: str) -> int:
        t = self._items.get((uri, name))
        return t.version if t else 0

    def set_visible(self, on: bool) -> None:
        """Take thumbnails while *on* (some client shows them); stop otherwise."""
        self.visible = on
        if on and (self._task is None or self._task.done()):
            self._task = asyncio.ensure_future(self._loop())
        elif not on and self._task is not None:
            self._task.cancel()
            self._task = None

    def stop(self) -> None:
        self.set_visible(False)

    def stopped(self, uri: str, name: str) -> None:
        """The VM stopped: announce its preview once the console wrote it."""
        loop = asyncio.get_running_loop()
        loop.call_later(PREVIEW_SETTLE, self._bump, (uri, name))

    def forget(self, uri: str, name: str) -> None:
        self._items.pop((uri, name), None)

    def _bump(self, key: Key) -> None:
        t = self._items.setdefault(key, _Thumb())
        t.version += 1
        t.digest = b""
        self._publish({"type": "thumbnail", "name": key[1], "uri": key[0], "version": t.version})

    # ------------------------------------------------------------ taking them

    async def _loop(self) -> None:
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad round must not end thumbnails for good
                log.exception("kernelswitch: thumbnails round failed")
            await asyncio.sleep(TICK)

    async def refresh(self, force: bool = False) -> None:
        """One round over the running VMs (what the loop does every :data:`TICK` s)."""
        for key in self._running():
            with contextlib.suppress(Exception):
                await self._take(key, force)

    async def _take(self, key: Key, force: bool = False) -> bool:
        """A new thumbnail of *key* if one is due; True when taken."""
        t = self._items.setdefault(key, _Thumb())
        now = time.monotonic()
        sessions = self._sessions()  # keyed by (uri, name) refs (server.console_handlers)
        session = sessions.get(f"{key[1]}\x1f{key[0]}") or sessions.get(key[1])
        if session is not None and session.ready and session.fb.width:
            fb = session.fb
            if fb.version == t.fb_version or (now - t.fb_at < FB_EVERY and not force):
                return False
            t.fb_at, t.fb_version = now, fb.version
            png, digest = await asyncio.to_thread(_from_pixels, fb.copy())
        else:
            if now - t.shot_at < SHOT_EVERY and not force:
                return False
            t.shot_at = now
            manager = self.managers[key[0]]
            # virDomainScreenshot asks QEMU's monitor: in the VM's lane, with a
            # deadline, so a stopped guest cannot hold a libvirt thread for ever
            image = await manager.guard.acall(
                key[1],
                lambda: manager.connection.call(lambda conn: screenshot(conn, key[1])),
                "taking a thumbnail",
            )
            png, digest = await asyncio.to_thread(reduce_to_png, image)
        if digest == t.digest:
            return False
        t.png, t.digest, t.taken = png, digest, time.time()
        t.version += 1
        self._publish({"type": "thumbnail", "name": key[1], "uri": key[0], "version": t.version})
        return True

    # ------------------------------------------------------------ serving them

    async def png(
        self, uri: str, name: str, state: str, preview_path: str | None = None
    ) -> bytes | None:
        """The VM's thumbnail now (taken on demand for a running VM with none yet)."""
        from ..hub.hub import LIVE

        key = (uri, name)
        t = self._items.setdefault(key, _Thumb())
        if state in LIVE:
            if not t.png:
                with contextlib.suppress(Exception):
                    await self._take(key, force=True)
            return t.png or None
        if preview_path:
            with contextlib.suppress(OSError):
                mark = (preview_path, Path(preview_path).stat().st_mtime)
                if t.png and t.taken > mark[1]:
                    return t.png  # a screenshot newer than the console's last frame
                if t.preview != mark:
                    t.preview_png = await asyncio.to_thread(_from_file, preview_path)
                    t.preview = mark
                return t.preview_png
        return t.png or None
