"""What a person picking an env needs on top of the scan: the envs that are
always there, names told apart, short paths and the recommended ones.

Public API: :func:`present` ``(records, notebook=None, home=None) -> list[dict]``
and :func:`always_listed` ``() -> list[EnvRecord]``.

Why here and not in the scan: the scan lists what lies under the roots, and
the server's own env (a ``.venv`` outside home, a system site) or the system
interpreter need not; yet they are the way back once a kernel has left them
(issue 16, finding 4), so every list (``GET envs``, ``%pyenv list``, the
picker) gets them from this one place. "Recommended" follows VS Code's
picker: an env inside the notebook's folder or its project (the nearest
folder above it with a project file).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any

from ._record import EnvRecord
from ._resolve import resolve, system_python

#: Files that mark a project's root folder (the nearest one above a notebook).
PROJECT_MARKERS = (".git", "pyproject.toml", "setup.py", "setup.cfg", "Pipfile",
                   "poetry.lock", "environment.yml", "requirements.txt", ".hg")


#: Seconds the server's and the system's records are reused before a re-read.
ALWAYS_TTL = 30.0
_always: list[EnvRecord] | None = None
_always_at = 0.0
_always_lock = threading.Lock()
_always_thread: threading.Thread | None = None


def _read_always() -> None:
    global _always, _always_at
    from ..errors import KernelSwitchError

    out: list[EnvRecord] = []
    for exe in (sys.executable, None):
        try:
            rec = resolve(exe if exe is not None else system_python())
        except KernelSwitchError:
            continue
        out.append(rec)
    _always, _always_at = out, time.monotonic()


def always_listed(wait: float = 2.0) -> list[EnvRecord]:
    """The server's own env and the system interpreter (as far as they resolve).

    Read in a thread of its own and reused for :data:`ALWAYS_TTL` seconds: a
    resolve waits for the probe cache, which a scan stuck on slow storage may
    hold, and the list must still answer in its time budget (then without
    them, the first time only). Waits at most ``wait`` seconds.
    """
    global _always_thread
    with _always_lock:
        stale = _always is None or time.monotonic() - _always_at > ALWAYS_TTL
        if stale and (_always_thread is None or not _always_thread.is_alive()):
            _always_thread = threading.Thread(target=_read_always, name="ks-env-always",
                                              daemon=True)
            _always_thread.start()
        thread = _always_thread
    if _always is None and thread is not None:
        thread.join(wait)
    return list(_always or [])


def same_file(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def merge(records: list[dict[str, Any]], extra: Iterable[EnvRecord]) -> list[dict[str, Any]]:
    """``records`` plus each of ``extra`` not in them already (same prefix and
    interpreter); the server's own record gets ``server: true``."""
    out = list(records)
    server_exe = sys.executable
    for rec in extra:
        found = next((r for r in out if r["prefix"] == rec.prefix and (
            same_file(r.get("executable"), rec.executable) or r["kind"] != "system")), None)
        if found is None:
            found = rec.to_json()
            out.append(found)
        if rec.prefix == sys.prefix and rec.executable == server_exe:
            found["server"] = True  # a venv's python links to the system's: not samefile
    for r in out:
        r.setdefault("server", False)
    return out


def short_path(path: str, home: str | None = None) -> str:
    """``/home/me/proj/.venv`` -> ``~/proj/.venv``."""
    home = (home or os.path.expanduser("~")).rstrip(os.sep)
    if home and (path == home or path.startswith(home + os.sep)):
        return "~" + path[len(home):]
    return path


def labels(records: list[dict[str, Any]]) -> list[str]:
    """Each record's name, or where names collide the shortest path tail that
    tells them apart (``proj-a/.venv``, ``proj-b/.venv``)."""
    names = [r["name"] or os.path.basename(r["prefix"]) for r in records]
    out = list(names)
    groups: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        groups.setdefault(n, []).append(i)
    for n, idx in groups.items():
        if len(idx) < 2:
            continue
        parts = {i: records[i]["prefix"].rstrip(os.sep).split(os.sep) for i in idx}
        tails: dict[int, str] = {}
        for depth in range(2, 1 + max(len(p) for p in parts.values())):
            tails = {i: "/".join(p[-depth:]) for i, p in parts.items()}
            if len(set(tails.values())) == len(idx):
                break
        for i in idx:
            r = records[i]
            if len(set(tails.values())) < len(idx):  # one folder, two interpreters
                out[i] = f"{n} ({r.get('executable') or r['prefix']})"
            elif os.path.basename(r["prefix"]) != n:  # a tool's own name: keep it first
                out[i] = f"{n} ({tails[i]})"
            else:
                out[i] = tails[i]
    return out


def project_root(folder: str, home: str | None = None) -> str | None:
    """The nearest folder at or above ``folder`` holding a project file, never
    above home (a dotfiles repo in home would make every env recommended)."""
    home = os.path.abspath(home or os.path.expanduser("~"))
    d = os.path.abspath(folder)
    while True:
        if d == home or d == os.path.dirname(d):
            return None
        if any(os.path.exists(os.path.join(d, m)) for m in PROJECT_MARKERS):
            return d
        d = os.path.dirname(d)


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def present(records: list[dict[str, Any]], notebook: str | None = None,
            home: str | None = None) -> list[dict[str, Any]]:
    """``records`` (JSON form) with ``label``, ``short_path`` and, given a
    notebook (absolute path), ``recommended`` added in place."""
    for r, label in zip(records, labels(records), strict=True):
        r["label"] = label
        r["short_path"] = short_path(r["prefix"], home)
    if notebook is not None:
        folder = os.path.dirname(os.path.abspath(notebook))
        places = [folder]
        proj = project_root(folder, home)
        if proj is not None:
            places.append(proj)
        for r in records:
            r["recommended"] = r["kind"] != "system" and any(
                _inside(r["prefix"], p) for p in places)
    return records
