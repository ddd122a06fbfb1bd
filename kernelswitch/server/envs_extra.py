"""Environment roots on top of the defaults, and a live list.

- ``GET envs?root=DIR`` (repeatable) scans ``DIR`` too, on top of the
  configured roots, and a folder that does not exist is an error that says so
  (``%pyenv list --root DIR`` uses it). Every answer says which folders were
  scanned (``roots``).
- :class:`EnvWatcher` watches the roots with ``watchfiles`` (inotify): a venv
  or conda env made or removed under them drops the remembered walks and bumps
  a generation number, so the next ``GET envs`` scans again, and front ends
  polling ``GET envs/generation`` (cheap) refetch the list within ~2 s.
  Each root and its folders two levels down are watched, not the whole tree:
  a home holds tens of thousands of folders, and every server watching all
  of them would exhaust the user's inotify watches; envs are made near the
  top (``~/env``, ``~/project/.venv``, ``~/.virtualenvs/x``). A new folder
  there joins the watch.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..errors import KernelSwitchError
from . import schemas as S
from ._base import KSHandler

#: Files whose appearance or removal means an environment came or went.
_MARKERS = frozenset({"pyvenv.cfg", "conda-meta"})


class RootNotFound(KernelSwitchError):
    code = "env_root_not_found"
    http_status = 404


def extra_roots(values: list[str]) -> list[str]:
    """Absolute, existing folders; a missing one raises :class:`RootNotFound`."""
    out = []
    for raw in values:
        path = os.path.abspath(os.path.expanduser(raw.strip()))
        if len(path) > S.MAX_PATH or not os.path.isdir(path):
            raise RootNotFound(
                f"{path} is not a folder; pass an existing folder to scan for environments",
                details={"field": "root", "path": path},
            )
        if path not in out:
            out.append(path)
    return out


class EnvWatcher:
    """Watches the env roots in a daemon thread (``generation`` counts changes)."""

    def __init__(self, roots: list[str], log: Any) -> None:
        self.generation = 0
        self._roots = [r for r in roots if os.path.isdir(r)]
        self._log = log
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not self._roots:
            return
        self._thread = threading.Thread(target=self._run, name="ks-env-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        try:
            from watchfiles import Change, watch
        except ImportError:  # pragma: no cover - a dependency
            self._log.warning("kernelswitch: watchfiles missing; the env list is not live")
            return
        try:
            while not self._stop.is_set():
                dirs = _watch_dirs(self._roots)
                for changes in watch(*dirs, watch_filter=_is_marker, stop_event=self._stop,
                                     recursive=False, debounce=300, step=50,
                                     raise_interrupt=False):
                    self._changed(changes)
                    if any(c in (Change.added, Change.deleted) and _near_top(p, self._roots)
                           for c, p in changes):
                        break  # a folder came or went near the top: watch the new set
        except Exception as e:  # a root removed, inotify limits: the list stays usable
            self._log.warning("kernelswitch: env roots no longer watched (%s); the list "
                              "updates on refresh only", e)

    def _changed(self, changes: Any) -> None:
        from watchfiles import Change

        new_dirs = [p for c, p in changes if c == Change.added and os.path.isdir(p)]
        if len(new_dirs) < len(changes) or any(_is_env(d) for d in new_dirs):
            self._bump(changes)
        if new_dirs:
            # inotify watches a new folder only once it exists, so a venv made
            # in one step may show no pyvenv.cfg event: look again shortly
            timer = threading.Timer(1.0, self._recheck, args=(new_dirs,))
            timer.daemon = True
            timer.start()

    def _recheck(self, dirs: list[str]) -> None:
        if any(_is_env(d) or any(_is_env(os.path.join(d, c)) for c in _children(d))
               for d in dirs):
            self._bump(dirs)

    def _bump(self, what: Any) -> None:
        from ..envs import forget_walks

        forget_walks()
        self.generation += 1
        self._log.debug("kernelswitch: env roots changed (%d): %s", self.generation,
                        sorted(str(p) for p in what)[:5])


#: How many levels below a root are watched (see the module docstring).
WATCH_DEPTH = 2
_SKIP = frozenset({"node_modules", ".git", "__pycache__", ".cache", "site-packages"})


def _watch_dirs(roots: list[str]) -> list[str]:
    """Each root and its folders down to :data:`WATCH_DEPTH` levels (no symlinks)."""
    out: list[str] = []
    level = [r for r in roots if os.path.isdir(r)]
    for depth in range(WATCH_DEPTH + 1):
        out += level
        if depth == WATCH_DEPTH:
            break
        nxt = []
        for d in level:
            try:
                with os.scandir(d) as it:
                    nxt += [e.path for e in it if e.name not in _SKIP
                            and e.is_dir(follow_symlinks=False)]
            except OSError:
                continue
        level = nxt[:2000]  # a pathological folder cannot make us watch everything
    return out


def _near_top(path: str, roots: list[str]) -> bool:
    for r in roots:
        rel = os.path.relpath(path, r)
        if not rel.startswith(".."):
            return rel.count(os.sep) < WATCH_DEPTH
    return False


def _is_env(path: str) -> bool:
    return any(os.path.exists(os.path.join(path, m)) for m in _MARKERS)


def _children(path: str) -> list[str]:
    try:
        return os.listdir(path)[:200]
    except OSError:
        return []


def _is_marker(change: Any, path: str) -> bool:
    """pyvenv.cfg / conda-meta, an env's interpreter (``venv`` writes its
    pyvenv.cfg first and bin/python last: the list must see the finished env),
    and new folders (checked again once their content is there)."""
    from watchfiles import Change

    name = os.path.basename(path)
    if name in _MARKERS:
        return True
    if os.path.basename(os.path.dirname(path)) in ("bin", "Scripts") and name.startswith(
        "python"
    ):
        return True
    return bool(change == Change.added and os.path.isdir(path))


class EnvGenerationHandler(KSHandler):
    openapi = {"get": {
        "summary": "A number that changes when environments appear or go under the roots",
        "responses": {"200": S.ok({"type": "object", "required": ["generation"]}),
                      **S.errors()},
    }}  # fmt: skip

    @web.authenticated
    @authorized
    async def get(self) -> None:
        watcher = getattr(self.ks, "env_watcher", None)
        self.send_json({
            "generation": watcher.generation if watcher is not None else 0,
            "live": watcher is not None,
        })  # fmt: skip


def routes(api: str) -> list[tuple[str, Any]]:
    return [(rf"{api}/envs/generation", EnvGenerationHandler)]
