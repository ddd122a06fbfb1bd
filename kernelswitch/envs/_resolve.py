"""resolve(): turn what a user typed (an interpreter, an env folder, ``system``)
into an env record, or a precise error."""

from __future__ import annotations

import os
import shutil

from . import _probe
from ._files import (
    env_markers,
    find_executable,
    looks_like_python,
    read_pyvenv_cfg,
    scan_site,
    site_dirs,
    version_from_dirname,
)
from ._probe import interpreter_version, probe
from ._record import EnvRecord, major_minor, server_python
from .errors import (
    BaseInterpreterGone,
    BrokenSymlink,
    EnvError,
    EnvNotFound,
    EnvUnreadable,
    NotAPython,
)
from .locators import Candidate, PyenvLocator, UvLocator, classify, default_name, load_locators

#: Seconds a resolve waits for the probe cache that a scan may hold.
RESOLVE_LOCK_WAIT = 10.0

#: Where "the system interpreter" is looked for first, before PATH.
SYSTEM_CANDIDATES = ("/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3")

_HOW = (
    "pass a Python interpreter (…/bin/python) or an environment folder "
    "(one with pyvenv.cfg or conda-meta/)"
)
# Version sources that only tell major.minor: resolve asks the interpreter.
_PARTIAL = frozenset({"lib-dir", "executable-name"})


def system_python() -> str:
    """The system interpreter: the usual places first, then ``python3`` on PATH
    outside pyenv shims and environments."""
    for exe in SYSTEM_CANDIDATES:
        if os.path.isfile(exe) and os.access(exe, os.X_OK):
            return exe
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if not d or os.path.basename(d) == "shims":
            continue
        if any(env_markers(os.path.dirname(d))):
            continue
        found = shutil.which("python3", path=d)
        if found:
            return found
    raise EnvNotFound(
        "no system Python found (looked at /usr/bin/python3, /usr/local/bin/python3 and PATH); "
        "install python3 or " + _HOW
    )


def _split_target(path: str) -> tuple[str, str | None]:
    """``(prefix, executable or None)`` of an existing path."""
    if os.path.isdir(path):
        return path, None
    base = os.path.basename(path)
    if not looks_like_python(base):
        raise NotAPython(
            f"{path} is a file but not a Python interpreter (its name is not python*); {_HOW}",
            details={"path": path},
        )
    d = os.path.dirname(path)
    if any(env_markers(d)):
        return d, path  # Windows conda/venv root with python.exe
    if os.path.basename(d) in ("bin", "Scripts"):
        return os.path.dirname(d), path
    return d, path


def _bare_kind(prefix: str) -> str:
    parent = os.path.dirname(prefix)
    for kind, folder in (("pyenv", PyenvLocator().root() / "versions"),
                         ("uv", UvLocator().folder())):
        if parent == os.path.abspath(folder):
            return kind
    if prefix in ("/usr", "/usr/local", "/"):
        return "system"
    return "python"


def resolve(target: str) -> EnvRecord:
    """The env record of ``target``: an interpreter path, an env folder, or
    ``""``/``"system"`` for the system interpreter.

    Paths are made absolute, never resolved (a symlinked venv stays a venv).
    Files are read first; the interpreter runs (once, cached) only when they
    did not tell its version. Raises :class:`~kernelswitch.envs.errors.EnvError`
    subclasses: EnvNotFound, NotAPython, BrokenSymlink, BaseInterpreterGone,
    EnvUnreadable, InvalidEnvConfig.
    """
    # Never wait forever behind a scan stuck on someone's file: a kernel
    # switch resolves its target and must answer.
    if not _probe.lock.acquire(timeout=RESOLVE_LOCK_WAIT):
        raise EnvUnreadable(
            f"could not resolve {target!r}: an environment scan has held the probe cache "
            f"for over {RESOLVE_LOCK_WAIT:g} s; try again, or restart the server if it persists"
        )
    try:
        return _resolve(target)
    finally:
        _probe.lock.release()


def _resolve(target: str) -> EnvRecord:
    t = (target or "").strip()
    path: str
    if t in ("", "system"):
        path = system_python()
    else:
        path = os.path.abspath(os.path.expanduser(t))
    if not os.path.exists(path):
        if os.path.islink(path):
            up = os.path.dirname(os.path.dirname(path))
            if os.path.basename(os.path.dirname(path)) in ("bin", "Scripts") and os.path.isfile(
                os.path.join(up, "pyvenv.cfg")
            ):
                raise BaseInterpreterGone(
                    f"base interpreter gone: {path} is a broken symlink (it points to "
                    f"{os.readlink(path)}); recreate the venv with "
                    f"`python3 -m venv --clear {up}`",
                    details={"path": path},
                )
            raise BrokenSymlink(
                f"{path} is a broken symlink (it points to {os.readlink(path)}, which does not "
                "exist); fix the link or " + _HOW,
                details={"path": path},
            )
        raise EnvNotFound(f"{path} does not exist; {_HOW}", details={"path": path})
    try:
        prefix, exe = _split_target(path)
    except PermissionError as e:
        raise EnvUnreadable(f"cannot read {path}: permission denied", details={"path": path}) from e
    if not os.access(prefix, os.R_OK | os.X_OK):
        raise EnvUnreadable(
            f"cannot read {prefix}: permission denied; check its permissions or run as its owner",
            details={"path": prefix},
        )
    has_cfg, has_conda = env_markers(prefix)
    if not has_cfg and not has_conda and exe is None:
        found, broken = find_executable(prefix)
        if found is None:
            raise NotAPython(
                f"{prefix} is a folder but not a Python environment: no pyvenv.cfg, "
                f"conda-meta/ or bin/python in it; {_HOW}",
                details={"path": prefix},
            )
        if broken:
            raise BrokenSymlink(
                f"{found} is a broken symlink (points to {os.readlink(found)}); "
                "reinstall that Python or " + _HOW,
                details={"path": found},
            )
    cfg = read_pyvenv_cfg(os.path.join(prefix, "pyvenv.cfg")) if has_cfg else None

    cand = Candidate(prefix, has_cfg=has_cfg, has_conda_meta=has_conda, cfg=cfg or {},
                     executable=exe)
    kind: str | None = None
    name: str | None = None
    if has_cfg or has_conda:
        kind, name = classify(cand, load_locators()[0]) or (None, None)
    if kind is None:
        kind = _bare_kind(prefix)
        name = os.path.basename(exe) + f" ({os.path.dirname(exe)})" if (
            kind == "system" and exe) else os.path.basename(prefix)
    hint = None
    if kind in ("pyenv", "uv"):
        v = version_from_dirname(os.path.basename(prefix))
        hint = (v, "directory-name") if v else None
    probed = probe(prefix, kind, name or default_name(prefix), has_conda_meta=has_conda,
                   executable=exe, version_hint=hint, cfg=cfg)
    rec = probed.record
    if rec.error:
        err = probed.error_type or EnvError
        raise err(rec.error, details={"path": prefix})
    if rec.executable and (rec.version is None or rec.version_source in _PARTIAL):
        rec.version = interpreter_version(rec.executable)
        rec.version_source = "interpreter"
        if not rec.packages:
            dirs, _ = site_dirs(prefix, major_minor(rec.version), system=kind == "system")
            rec.packages, rec.modules = scan_site(dirs)
            rec.has_ipykernel = "ipykernel" in rec.packages
    return rec.with_mode(server_python())
