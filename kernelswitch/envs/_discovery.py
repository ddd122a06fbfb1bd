"""discover(): every Python environment under some roots and in the tools' places."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._files import read_pyvenv_cfg
from ._probe import lock, probe, probe_cache
from ._record import Discovery, EnvRecord, ScanError, ServerPython, server_python
from ._walk import Key, walk
from .errors import EnvError
from .locators import Candidate, Locator, classify, default_name, load_locators

_DIGITS = re.compile(r"(\d+)")

#: Seconds a scan may take before it returns what it has, flagged ``partial``.
DEFAULT_BUDGET = 5.0
#: How deep below each root the walk looks (root = 0).
DEFAULT_DEPTH = 5
#: Seconds a completed walk is reused without ``refresh`` (probes are still
#: revalidated against the files' mtimes on every call).
WALK_TTL = 60.0


@dataclass
class _Walked:
    at: float
    candidates: list[Candidate]
    errors: list[ScanError] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    #: last call's records (candidate order) and their sorted list, reused when unchanged
    last: list[EnvRecord] = field(default_factory=list)
    last_sorted: list[EnvRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.keys = [_cache_key(c) for c in self.candidates]


_walks: dict[tuple[tuple[str, ...], int], _Walked] = {}


def default_roots() -> list[str]:
    """Home and the current directory."""
    roots = [os.path.abspath(Path.home())]
    cwd = os.getcwd()
    if cwd not in roots:
        roots.append(cwd)
    return roots


def _cache_key(c: Candidate) -> str:
    return f"{c.prefix}\0{c.executable or ''}"


def _stat_key(path: str) -> Key | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _collect(
    roots: list[str], depth: int, deadline: float, locators: list[Locator]
) -> tuple[list[Candidate], list[ScanError], bool]:
    """Candidates from the locators' own places, then from walking ``roots``."""
    errors: list[ScanError] = []
    cands: list[Candidate] = []
    env_keys: set[Key] = set()
    exe_keys: set[Key] = set()
    paths: set[str] = set()
    for loc in locators:
        try:
            found = list(loc.locations())
        except Exception as e:  # a plugin's bug must not stop the scan
            errors.append(ScanError(type(loc).__name__, f"locator {loc.kind} failed: {e}"))
            continue
        for c in found:
            if c.executable:
                key = _stat_key(c.executable)
                if key is None or key in exe_keys:
                    continue
                exe_keys.add(key)
            else:
                if c.prefix in paths:
                    continue
                key = _stat_key(c.prefix)
                if key is None or key in env_keys:
                    continue
                env_keys.add(key)
                paths.add(c.prefix)
            if c.kind and not c.name:
                c.name = loc.name(c)
            cands.append(c)

    res = walk(roots, depth, deadline, skip=env_keys)
    errors += [ScanError(p, m) for p, m in res.errors]
    cands += [Candidate(f.prefix, has_cfg=f.has_cfg, has_conda_meta=f.has_conda_meta)
              for f in res.found]
    return cands, errors, res.partial


def _probe_one(cand: Candidate, locators: list[Locator], server: ServerPython) -> EnvRecord:
    cfg: dict[str, str] | None = None
    cfg_error: EnvError | None = None
    if cand.has_cfg:
        try:
            cfg = read_pyvenv_cfg(os.path.join(cand.prefix, "pyvenv.cfg"))
        except EnvError as e:
            cfg_error = e
    cand.cfg = cfg or {}
    kind, name = cand.kind, cand.name
    if kind is None:
        kind, name = classify(cand, locators) or (
            "conda" if cand.has_conda_meta else "venv", None)
    probed = probe(
        cand.prefix,
        kind,
        name or default_name(cand.prefix),
        has_conda_meta=cand.has_conda_meta,
        executable=cand.executable,
        version_hint=cand.version_hint,
        cfg=cfg,
        cfg_error=cfg_error,
    )
    probe_cache().put(_cache_key(cand), probed)
    return probed.record.with_mode(server)


def discover(
    roots: Sequence[str | Path] | None = None,
    depth: int = DEFAULT_DEPTH,
    budget: float = DEFAULT_BUDGET,
    refresh: bool = False,
) -> Discovery:
    """Every Python environment under ``roots`` (default: home and the current
    directory, ``depth`` levels down) and in each locator's own places.

    Reads files only and never runs an interpreter. After ``budget`` seconds
    the envs found so far come back with ``partial=True``. A repeated call
    within :data:`WALK_TTL` reuses the walk and revalidates each env by mtime;
    ``refresh=True`` walks and probes everything again. Between walks only
    site-packages is rechecked (installs show at once); an edited pyvenv.cfg
    shows with the next walk.
    """
    t0 = time.monotonic()
    # Never wait on the cache lock longer than the budget: a resolve running an
    # interpreter, or a scan stuck on slow storage, must not stall this caller.
    if not lock.acquire(timeout=max(budget, 0.0)):
        return _busy_answer(roots, depth, budget, t0)
    try:
        return _discover(roots, depth, budget, refresh)
    finally:
        lock.release()


def _busy_answer(
    roots: Sequence[str | Path] | None, depth: int, budget: float, t0: float
) -> Discovery:
    """What the last complete walk of these roots found, flagged partial."""
    walked = _walks.get((tuple(_root_list(roots)), depth))
    envs = list(walked.last_sorted) if walked else []
    return Discovery(
        envs,
        partial=True,
        errors=list(walked.errors) if walked else [],
        elapsed=time.monotonic() - t0,
        reason=(
            f"another scan (or an interpreter check) held the environment cache for the "
            f"whole {budget:g} s budget; this is the last complete list. Try again shortly."
        ),
    )


def _root_list(roots: Sequence[str | Path] | None) -> list[str]:
    return [
        os.path.abspath(os.path.expanduser(str(r)))
        for r in (default_roots() if roots is None else roots)
    ]


def _discover(
    roots: Sequence[str | Path] | None, depth: int, budget: float, refresh: bool
) -> Discovery:
    t0 = time.monotonic()
    deadline = t0 + budget
    root_list = _root_list(roots)
    server = server_python()
    locators, plugin_errors = load_locators()
    cache = probe_cache()
    cache.load()
    wkey = (tuple(root_list), depth)
    walked = None if refresh else _walks.get(wkey)
    partial = False
    fresh_walk = walked is None or t0 - walked.at > WALK_TTL
    if walked is None or fresh_walk:
        cands, errors, partial = _collect(root_list, depth, deadline, locators)
        walked = _Walked(t0, cands, errors)
        if partial:
            _walks.pop(wkey, None)
        else:
            _walks[wkey] = walked
    errors = list(walked.errors) + [ScanError(n, m) for n, m in plugin_errors]

    records: list[EnvRecord] = []
    get = cache.get
    quick = not fresh_walk  # a reused walk checks site-packages only
    for n, (cand, key) in enumerate(zip(walked.candidates, walked.keys, strict=True), 1):
        if n & 63 == 0 and time.monotonic() > deadline:
            partial = True
            break
        rec = None if refresh else get(key, quick)
        if rec is not None and rec.executable and not os.path.lexists(rec.executable):
            rec = None  # its interpreter was deleted: no file the stamps cover says so
        if rec is None:
            if quick and not os.path.isdir(cand.prefix):
                continue  # removed since the (reused) walk
            rec = _probe_one(cand, locators, server)
        elif not rec.reason:
            rec.with_mode(server)
        records.append(rec)
    cache.save()
    if len(records) == len(walked.last) and all(
        a is b for a, b in zip(records, walked.last, strict=True)
    ):
        ordered = list(walked.last_sorted)
    else:
        ordered = sorted(records, key=_order)
        if not partial:
            walked.last, walked.last_sorted = records, list(ordered)
    elapsed = time.monotonic() - t0
    reason = (
        f"the scan stopped at its {budget:g} s deadline after {elapsed:.1f} s; environments "
        "deeper in the roots may be missing (scan fewer or smaller roots, or a lower depth)"
        if partial
        else None
    )
    return Discovery(ordered, partial=partial, errors=errors, elapsed=elapsed, reason=reason)


def _order(r: EnvRecord) -> tuple[bool, list[Any], str]:
    # natural order: 3.9 before 3.10, system interpreters last
    parts: list[Any] = [(0, int(p)) if p.isdigit() else (1, p) for p in _DIGITS.split(
        r.name.lower()) if p]
    return (r.kind == "system", parts, r.prefix)


def forget_walks() -> None:
    """Drop the remembered walks (tests, or after the roots changed on disk)."""
    _walks.clear()
