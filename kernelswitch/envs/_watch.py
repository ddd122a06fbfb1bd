"""A live environment list: watch the roots, tell when an env came or went.

Public API: :class:`EnvWatcher` ``(roots, depth, log)`` with ``start()``,
``stop()``, ``generation`` (a number that grows on every change) and
``watched`` (how many folders are watched).

Why this shape: the list must follow what discovery can find, so the watch
reaches as deep as the scan (``depth`` levels, the same folders pruned,
an env's own folders not entered except ``bin``/``Scripts`` and a conda
base's ``envs``), and no deeper: a home holds tens of thousands of folders
and every watched folder costs an inotify watch. The watch is made of
single-folder (non-recursive) watches through ``watchfiles``, nearest
folders first, at most :data:`MAX_WATCHED` of them; when a home is bigger
than that the log says how deep the live list reaches (a refresh still finds
everything). A folder made under a watched one joins the watch.

On a change the remembered walks are dropped (:func:`forget_walks`) and
``generation`` grows, so the next discovery scans again and front ends that
poll the generation refetch within ~2 s.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from ._discovery import DEFAULT_DEPTH, forget_walks
from ._walk import PRUNE

#: Most folders watched at once (an inotify watch each; the kernel's default
#: limit per user is far higher, but other programs need theirs).
MAX_WATCHED = 10_000
#: Files whose appearance or removal means an environment came or went.
MARKERS = frozenset({"pyvenv.cfg", "conda-meta"})
#: Folders entered inside an env: its interpreters, and a conda base's envs.
_ENV_CHILDREN = frozenset({"bin", "Scripts", "envs"})
#: Least seconds between two re-walks of the roots (a folder storm is one re-walk).
_REWALK_GAP = 1.0


class EnvWatcher:
    """Watches the env roots in a daemon thread; see the module docstring."""

    def __init__(self, roots: list[str], log: Any, depth: int = DEFAULT_DEPTH) -> None:
        self.generation = 0
        self.watched = 0
        self.depth = depth
        self._roots = [r for r in roots if os.path.isdir(r)]
        self._log = log
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._dirs: set[str] = set()

    def start(self) -> None:
        if not self._roots:
            return
        self._thread = threading.Thread(target=self._run, name="ks-env-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        try:
            from watchfiles import watch
        except ImportError:  # pragma: no cover - a dependency
            self._log.warning("kernelswitch: watchfiles missing; the env list is not live")
            return
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                dirs, reached = watch_dirs(self._roots, self.depth)
                self._dirs, self.watched = set(dirs), len(dirs)
                if reached < self.depth:
                    self._log.warning(
                        "kernelswitch: the env roots hold over %d folders; the live env list "
                        "covers %d levels below them (a refresh still scans %d)",
                        MAX_WATCHED, reached, self.depth)
                for changes in watch(*dirs, watch_filter=self._matters, stop_event=self._stop,
                                     recursive=False, debounce=300, step=50,
                                     raise_interrupt=False):
                    if self._changed(changes):
                        break  # a folder came or went: watch the new set
                self._stop.wait(max(0.0, _REWALK_GAP - (time.monotonic() - started)))
        except Exception as e:  # a root removed, inotify limits: the list stays usable
            self._log.warning("kernelswitch: env roots no longer watched (%s); the list "
                              "updates on refresh only", e)

    def _matters(self, change: Any, path: str) -> bool:
        """A marker or an interpreter, a folder made, or a watched folder removed."""
        from watchfiles import Change

        return is_marker(change, path) or (change == Change.deleted and path in self._dirs)

    def _changed(self, changes: Any) -> bool:
        """Bump for what matters; True when the watched folders must change."""
        from watchfiles import Change

        new_dirs = [p for c, p in changes if c == Change.added and os.path.isdir(p)]
        gone = [p for c, p in changes if c == Change.deleted and p in self._dirs]
        if len(new_dirs) < len(changes) or any(is_env(d) for d in new_dirs):
            self._bump(changes)
        if new_dirs:
            # inotify sees inside a new folder only once it is watched, so a
            # venv made in one step may show no pyvenv.cfg event: look again
            timer = threading.Timer(1.0, self._recheck, args=(new_dirs,))
            timer.daemon = True
            timer.start()
        return bool(gone) or any(self._within_depth(d) for d in new_dirs)

    def _within_depth(self, path: str) -> bool:
        for r in self._roots:
            rel = os.path.relpath(path, r)
            if not rel.startswith(".."):
                return rel.count(os.sep) < self.depth
        return False

    def _recheck(self, dirs: list[str]) -> None:
        if any(is_env(d) or any(is_env(os.path.join(d, c)) for c in _children(d))
               for d in dirs):
            self._bump(dirs)

    def _bump(self, what: Any) -> None:
        forget_walks()
        self.generation += 1
        self._log.debug("kernelswitch: env roots changed (%d): %s", self.generation,
                        sorted(str(p) for p in what)[:5])


def watch_dirs(roots: list[str], depth: int, limit: int = MAX_WATCHED) -> tuple[list[str], int]:
    """The folders to watch, nearest first, and the deepest level fully included.

    Each root and its folders down to ``depth`` levels, pruned like the scan;
    symlinks are not followed (the scan reaches their targets by another
    name, which a watch of the real folder already covers).
    """
    out: list[str] = []
    level = [(r, False) for r in roots if os.path.isdir(r)]
    for d in range(depth + 1):
        if len(out) + len(level) > limit:
            out += [p for p, _ in level[: limit - len(out)]]
            return out, d - 1
        out += [p for p, _ in level]
        if d == depth:
            break
        nxt: list[tuple[str, bool]] = []
        for path, in_env in level:
            env_here = in_env or is_env(path)
            try:
                with os.scandir(path) as it:
                    for e in it:
                        if e.name in PRUNE or (env_here and e.name not in _ENV_CHILDREN):
                            continue
                        if e.is_dir(follow_symlinks=False):
                            nxt.append((e.path, env_here and e.name != "envs"))
            except OSError:
                continue
        level = nxt
    return out, depth


def is_env(path: str) -> bool:
    return any(os.path.exists(os.path.join(path, m)) for m in MARKERS)


def _children(path: str) -> list[str]:
    try:
        return os.listdir(path)[:200]
    except OSError:
        return []


def is_marker(change: Any, path: str) -> bool:
    """pyvenv.cfg / conda-meta, an env's interpreter (``venv`` writes its
    pyvenv.cfg first and bin/python last: the list must see the finished env),
    and new folders (checked again once their content is there)."""
    from watchfiles import Change

    name = os.path.basename(path)
    if name in MARKERS:
        return True
    if os.path.basename(os.path.dirname(path)) in ("bin", "Scripts") and name.startswith(
        "python"
    ):
        return True
    return bool(change == Change.added and os.path.isdir(path))
