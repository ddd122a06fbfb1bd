"""Probe one environment: version, interpreter, packages — from files.

:func:`probe` reads files only. :func:`interpreter_version` runs an interpreter
(isolated mode, short timeout) and is used by ``resolve`` alone, when nothing
on disk told the version. Both are cached by path and mtime, in memory and in
a JSON file in the user cache dir.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from typing import Any

from .. import _paths
from ._files import (
    find_executable,
    scan_site,
    site_dirs,
    stamp,
    version_from_cfg,
    version_from_conda_meta,
    version_from_executable_name,
    version_from_patchlevel,
)
from ._record import EnvRecord, major_minor
from .errors import BaseInterpreterGone, BrokenSymlink, EnvError, NotAPython

log = logging.getLogger(__name__)

#: Seconds an interpreter may take to print its version before it is given up on.
SPAWN_TIMEOUT = 5.0
_CACHE_VERSION = 1

#: Interpreter processes started by this module (the benchmark reports it).
spawn_count = 0


@dataclass
class Probed:
    record: EnvRecord
    stamp_paths: list[str]
    #: the error class matching ``record.error`` (resolve raises it)
    error_type: type[EnvError] | None = None


def probe(
    prefix: str,
    kind: str,
    name: str,
    *,
    has_conda_meta: bool,
    executable: str | None = None,
    version_hint: tuple[str, str] | None = None,
    cfg: dict[str, str] | None = None,
    cfg_error: EnvError | None = None,
) -> Probed:
    """Build the record of ``prefix`` from its files (mode not yet filled in).

    ``cfg`` is the already-parsed ``pyvenv.cfg`` (or ``cfg_error`` why it
    could not be) and ``has_conda_meta`` what the caller already saw on disk;
    problems become the record's ``error``, never exceptions.
    """
    error: str | None = str(cfg_error) if cfg_error else None
    error_type: type[EnvError] | None = type(cfg_error) if cfg_error else None
    cfg_path = os.path.join(prefix, "pyvenv.cfg")
    conda_meta = os.path.join(prefix, "conda-meta")
    is_venv = cfg is not None or cfg_error is not None
    is_conda = has_conda_meta

    broken = False
    if executable is None:
        executable, broken = find_executable(prefix)
    cfg = cfg or {}
    home = cfg.get("home")
    if error is None and home and not os.path.isdir(home):
        error = (
            f"base interpreter gone: pyvenv.cfg says home = {home}, which does not exist; "
            f"recreate the venv with `python3 -m venv --clear {prefix}`"
        )
        error_type = BaseInterpreterGone
    if error is None and broken:
        error = (
            f"{executable} is a broken symlink (its base interpreter is gone); "
            f"recreate the environment, e.g. `python3 -m venv --clear {prefix}`"
        )
        error_type = BrokenSymlink
        if is_venv:
            error = "base interpreter gone: " + error
            error_type = BaseInterpreterGone
    if error is None and executable is None:
        error = (
            f"its interpreter is missing: no bin/python, Scripts/python.exe or python.exe in "
            f"{prefix}; recreate the environment"
        )
        error_type = NotAPython

    version: str | None = None
    source: str | None = None
    if cfg:
        version, source = version_from_cfg(cfg), "pyvenv.cfg"
    if version is None and is_conda:
        version, source = version_from_conda_meta(prefix), "conda-meta"
    if version is None and version_hint:
        version, source = version_hint
    name_v = None
    if version is None and executable:
        name_v = version_from_executable_name(executable)
    if version is None:
        base = os.path.dirname(home) if home else prefix
        version, source = version_from_patchlevel(base, major_minor(name_v)), "patchlevel.h"
    mm = major_minor(version)
    system = kind == "system"
    dirs, lib_mm = site_dirs(prefix, mm, system=system)
    if version is None and lib_mm:
        version, source = f"{lib_mm[0]}.{lib_mm[1]}", "lib-dir"
    if version is None and name_v:
        version, source = name_v, "executable-name"
    if version is None:
        source = None
    mm = major_minor(version)
    if system and mm and not dirs:
        dirs, _ = site_dirs(prefix, mm, system=True)
    if home and cfg.get("include-system-site-packages", "").lower() == "true":
        base_dirs, _ = site_dirs(os.path.dirname(home), mm, system=True)
        dirs += [d for d in base_dirs if d not in dirs]

    packages, modules = scan_site(dirs)
    record = EnvRecord(
        kind=kind,
        name=name,
        prefix=prefix,
        executable=executable,
        version=version,
        version_source=source,
        has_ipykernel="ipykernel" in packages,
        error=error,
        packages=packages,
        modules=modules,
        config=cfg,
    )
    marker = cfg_path if is_venv else conda_meta if is_conda else executable or prefix
    # site-packages first: installs change it, and a quick check looks at it alone
    paths = [*dirs] if dirs else [os.path.join(prefix, "lib")]
    paths.append(marker)
    return Probed(record, paths, error_type)


def interpreter_version(executable: str) -> str:
    """Run ``executable`` once (isolated, :data:`SPAWN_TIMEOUT`) and return its version."""
    global spawn_count
    cache = probe_cache()
    hit = cache.get_version(executable)
    if hit:
        return hit
    code = "import sys; print('%d.%d.%d' % sys.version_info[:3])"
    spawn_count += 1
    try:
        out = subprocess.run(
            [executable, "-I", "-c", code],
            capture_output=True,
            timeout=SPAWN_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise NotAPython(
            f"{executable} did not print its version within {SPAWN_TIMEOUT:.0f} s; "
            "is it really a Python interpreter?",
            details={"path": executable},
        ) from e
    except OSError as e:
        raise NotAPython(
            f"{executable} cannot be run ({e.strerror}); pass a Python interpreter "
            "or an environment folder",
            details={"path": executable},
        ) from e
    text = out.stdout.decode("ascii", "replace").strip()
    if out.returncode != 0 or major_minor(text) is None:
        why = (out.stderr.decode("utf-8", "replace").strip().splitlines() or ["no output"])[-1]
        raise NotAPython(
            f"{executable} is not a working Python interpreter ({why}); "
            "pass a Python interpreter or an environment folder",
            details={"path": executable},
        )
    cache.put_version(executable, text)
    return text


class ProbeCache:
    """Probe results by path, valid while the stamped files keep their mtimes.

    In memory for the process, mirrored to ``<cache_dir>/envs/probes.json`` so a
    fresh process (the CLI) starts warm.
    """

    def __init__(self) -> None:
        self._loaded_from: str | None = None
        self._records: dict[str, tuple[list[str], list[int], EnvRecord]] = {}
        self._raw: dict[str, Any] = {}
        self._versions: dict[str, tuple[int, str]] = {}
        self._dirty = False

    def path(self) -> str:
        return os.path.join(str(_paths.cache_dir()), "envs", "probes.json")

    def load(self) -> None:
        """(Re)load the disk file if the cache dir changed since the last call."""
        path = self.path()
        if self._loaded_from == path:
            return
        self._loaded_from = path
        self._records, self._raw, self._versions = {}, {}, {}
        self._dirty = False
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            return
        if not isinstance(data, dict) or data.get("version") != _CACHE_VERSION:
            return
        self._raw = data.get("records", {})
        for exe, (mtime, v) in data.get("interpreters", {}).items():
            self._versions[exe] = (int(mtime), str(v))

    def clear(self) -> None:
        self.load()
        self._records.clear()
        self._raw.clear()
        self._versions.clear()
        self._dirty = True

    def get(self, key: str, quick: bool = False) -> EnvRecord | None:
        """The cached record of ``key`` if its files are unchanged.

        ``quick`` checks only the first stamped path (site-packages, which every
        install and uninstall touches); the full check also covers pyvenv.cfg /
        conda-meta, which change when an env is recreated or upgraded.
        """
        if self._loaded_from is None:
            self.load()
        hit = self._records.get(key)
        if hit is None:
            raw = self._raw.pop(key, None)
            if raw is None:
                return None
            try:
                rec = raw["record"]
                record = EnvRecord(
                    **{k: rec[k] for k in _FIELDS},
                    packages=dict(rec["packages"]),
                    modules=frozenset(rec["modules"]),
                    config=dict(rec["config"]),
                )
                hit = (list(raw["paths"]), list(raw["stamps"]), record)
            except (KeyError, TypeError):
                self._dirty = True
                return None
            self._records[key] = hit
        paths, stamps, record = hit
        if (stamp(paths[:1]) != stamps[:1]) if quick else (stamp(paths) != stamps):
            del self._records[key]
            self._dirty = True
            return None
        return record

    def put(self, key: str, probed: Probed) -> None:
        self._records[key] = (probed.stamp_paths, stamp(probed.stamp_paths), probed.record)
        self._dirty = True

    def get_version(self, executable: str) -> str | None:
        self.load()
        hit = self._versions.get(executable)
        if hit and stamp([executable]) == [hit[0]]:
            return hit[1]
        return None

    def put_version(self, executable: str, version: str) -> None:
        self.load()
        self._versions[executable] = (stamp([executable])[0], version)
        self._dirty = True
        self.save()

    def save(self) -> None:
        """Write the cache file atomically; a read-only cache dir only costs speed."""
        if not self._dirty:
            return
        path = self.path()
        records = dict(self._raw)
        for key, (paths, stamps, r) in self._records.items():
            records[key] = {
                "paths": paths,
                "stamps": stamps,
                "record": {
                    **{k: getattr(r, k) for k in _FIELDS},
                    "packages": r.packages,
                    "modules": sorted(r.modules),
                    "config": r.config,
                },
            }
        data = {
            "version": _CACHE_VERSION,
            "records": records,
            "interpreters": {k: list(v) for k, v in self._versions.items()},
        }
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".probes-")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                # dumps, not dump: only the one-shot encoder is the fast C one
                f.write(json.dumps(data, separators=(",", ":")))
            os.replace(tmp, path)
            self._dirty = False
        except OSError as e:
            log.debug("cannot write env cache %s: %s", path, e)


_FIELDS = ("kind", "name", "prefix", "executable", "version", "version_source",
           "has_ipykernel", "error")

_cache = ProbeCache()

#: Serializes scans and resolves: the server runs them in executor threads, and
#: a caller that waits gets the first one's fresh caches.
lock = threading.RLock()


def probe_cache() -> ProbeCache:
    """The process-wide probe cache."""
    return _cache
