"""Read what an environment's files say, without running anything.

Every function here is a handful of ``stat``/``scandir``/``read`` calls: this is
what makes discovery cheap (DESIGN decision 10).
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterable

from .errors import EnvUnreadable, InvalidEnvConfig

#: Keys of pyvenv.cfg we read (venv, virtualenv and uv all write subsets).
CFG_KEYS = (
    "home",
    "version",
    "version_info",
    "executable",
    "base-executable",
    "include-system-site-packages",
    "uv",
    "virtualenv",
    "prompt",
)

_PY_NAME = re.compile(r"^(?:python|pypy)(\d+(?:\.\d+)?t?)?(?:w)?(?:\.exe)?$", re.IGNORECASE)
_VERSION = re.compile(r"(\d+\.\d+(?:\.\d+)?(?:(?:a|b|rc)\d+)?)")
_DIRNAME_VERSION = re.compile(
    r"^(?:(?:cpython|pypy|graalpy)-)?(\d+\.\d+(?:\.\d+)?(?:(?:a|b|rc)\d+)?)(?:t)?(?:[-+].*)?$"
)
_LIB_PY = re.compile(r"^(?:python|pypy)(\d+)\.(\d+)t?$")
_PATCHLEVEL = re.compile(rb'#define\s+PY_VERSION\s+"([^"]+)"')
_NORMALIZE = re.compile(r"[-_.]+")


def looks_like_python(basename: str) -> bool:
    """``python``, ``python3.11``, ``python.exe``, ``pypy3`` ... (not ``python3-config``)."""
    return bool(_PY_NAME.match(basename))


def env_markers(prefix: str) -> tuple[bool, bool]:
    """``(has pyvenv.cfg, has conda-meta/)``: what makes a folder an environment."""
    return (
        os.path.isfile(os.path.join(prefix, "pyvenv.cfg")),
        os.path.isdir(os.path.join(prefix, "conda-meta")),
    )


def normalize(name: str) -> str:
    """PEP 503 name normalization, so ``Foo_Bar`` and ``foo-bar`` compare equal."""
    return _NORMALIZE.sub("-", name).lower()


def clean_version(raw: str) -> str | None:
    """``"3.11.7.final.0"`` -> ``"3.11.7"``; ``"3.12.0b1"`` stays; garbage -> None."""
    m = _VERSION.match(raw.strip())
    return m.group(1) if m else None


#: Most bytes read from any one file during discovery (a venv config is ~200).
READ_LIMIT = 64 * 1024


def read_head(path: str, limit: int = READ_LIMIT) -> bytes:
    """The first *limit* bytes of *path*, if it is a regular file; never blocks on one.

    A FIFO or a device under a scanned root must not hang a scan (anyone who
    can write there could plant one): the type is checked with ``stat`` before
    anything is opened, and again on the open descriptor (``O_NONBLOCK``, so
    a FIFO swapped in meanwhile cannot block the open either).
    Raises ``OSError`` (``EINVAL`` for "not a regular file").
    """
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise OSError(errno.EINVAL, "not a regular file", path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        chunks = []
        left = limit
        while left > 0:
            chunk = os.read(fd, left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_pyvenv_cfg(path: str) -> dict[str, str]:
    """The keys of a ``pyvenv.cfg``; raise when it is unreadable or not a venv config."""
    try:
        data = read_head(path)
    except PermissionError as e:
        raise EnvUnreadable(
            f"cannot read {path}: permission denied; "
            "check the file's permissions or run as its owner",
            details={"path": path},
        ) from e
    except IsADirectoryError as e:
        raise InvalidEnvConfig(
            f"{path} is a directory, not a venv config; recreate the venv",
            details={"path": path},
        ) from e
    except OSError as e:
        if e.errno == errno.EINVAL:
            kind = "a folder" if os.path.isdir(path) else "not a regular file"
            raise InvalidEnvConfig(
                f"{path} is {kind}, so not a venv config; recreate the venv",
                details={"path": path},
            ) from e
        raise EnvUnreadable(f"cannot read {path}: {e.strerror}", details={"path": path}) from e
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidEnvConfig(
            f"{path} is not text (not a venv config); recreate the venv with "
            "`python -m venv --clear <dir>`",
            details={"path": path},
        ) from e
    cfg: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            cfg[key.strip().lower()] = value.strip()
    if "home" not in cfg:
        raise InvalidEnvConfig(
            f"{path} has no 'home' key, so it is not a venv config; recreate the venv with "
            "`python -m venv --clear <dir>`",
            details={"path": path},
        )
    return {k: cfg[k] for k in CFG_KEYS if k in cfg}


def version_from_cfg(cfg: dict[str, str]) -> str | None:
    for key in ("version", "version_info"):
        if key in cfg:
            v = clean_version(cfg[key])
            if v:
                return v
    return None


def version_from_conda_meta(prefix: str) -> str | None:
    """The ``python-X.Y.Z-<build>.json`` record conda keeps for its interpreter."""
    try:
        with os.scandir(os.path.join(prefix, "conda-meta")) as it:
            for e in it:
                n = e.name
                if n.startswith("python-") and n.endswith(".json") and n[7:8].isdigit():
                    return clean_version(n[7:])
    except OSError:
        return None
    return None


def version_from_dirname(name: str) -> str | None:
    """pyenv ``3.11.7`` / ``3.13.0t``, uv ``cpython-3.12.1-linux-x86_64-gnu``."""
    m = _DIRNAME_VERSION.match(name)
    return m.group(1) if m else None


def version_from_patchlevel(prefix: str, mm: tuple[int, int] | None = None) -> str | None:
    """``#define PY_VERSION`` in ``include/pythonX.Y/patchlevel.h`` (CPython installs)."""
    inc = os.path.join(prefix, "include")
    names: Iterable[str]
    if mm:
        names = (f"python{mm[0]}.{mm[1]}", f"python{mm[0]}.{mm[1]}m")
    else:
        try:
            names = sorted(n for n in os.listdir(inc) if n.startswith("python"))
        except OSError:
            return None
    for n in names:
        try:
            m = _PATCHLEVEL.search(read_head(os.path.join(inc, n, "patchlevel.h")))
        except OSError:
            continue
        if m:
            return clean_version(m.group(1).decode("ascii", "replace"))
    return None


def version_from_executable_name(executable: str) -> str | None:
    """``python3.11`` -> ``3.11``; follows at most two symlink names (no realpath)."""
    path = executable
    for _ in range(3):
        m = re.match(r"^(?:python|pypy)(\d+\.\d+)", os.path.basename(path))
        if m:
            return m.group(1)
        try:
            target = os.readlink(path)
        except OSError:
            return None
        path = os.path.join(os.path.dirname(path), target)
    return None


def lib_python_dirs(prefix: str) -> list[tuple[str, tuple[int, int]]]:
    """``lib/pythonX.Y`` folders of a POSIX prefix, newest first."""
    lib = os.path.join(prefix, "lib")
    out = []
    try:
        with os.scandir(lib) as it:
            for e in it:
                m = _LIB_PY.match(e.name)
                if m:
                    out.append((e.path, (int(m.group(1)), int(m.group(2)))))
    except OSError:
        return []
    out.sort(key=lambda x: x[1], reverse=True)
    return out


def site_dirs(
    prefix: str, mm: tuple[int, int] | None, system: bool = False
) -> tuple[list[str], tuple[int, int] | None]:
    """Existing site-packages folders of ``prefix`` and the X.Y its lib folder names.

    Tries the exact ``lib/pythonX.Y/site-packages`` first (one stat) and lists
    ``lib/`` only when the version is unknown; Windows' ``Lib/site-packages``
    and Debian's ``dist-packages`` are covered.
    """
    found: list[str] = []
    lib_mm = mm
    if mm:
        cand = os.path.join(prefix, "lib", f"python{mm[0]}.{mm[1]}", "site-packages")
        if os.path.isdir(cand):
            found.append(cand)
    if not found:
        for path, dmm in lib_python_dirs(prefix):
            if mm and dmm != mm:
                continue
            cand = os.path.join(path, "site-packages")
            if os.path.isdir(cand):
                found.append(cand)
                lib_mm = lib_mm or dmm
                break
    if not found:
        win = os.path.join(prefix, "Lib", "site-packages")
        if os.path.isdir(win):
            found.append(win)
    if system:
        extra = [os.path.join(prefix, "lib", "python3", "dist-packages")]
        if lib_mm:
            xy = f"python{lib_mm[0]}.{lib_mm[1]}"
            extra.append(os.path.join(prefix, "lib", xy, "dist-packages"))
            extra.append(f"/usr/local/lib/{xy}/dist-packages")
        found.extend(d for d in extra if d not in found and os.path.isdir(d))
    return found, lib_mm


def scan_site(dirs: Iterable[str]) -> tuple[dict[str, str], frozenset[str]]:
    """Installed distributions (name -> version) and top-level module names."""
    packages: dict[str, str] = {}
    modules: set[str] = set()
    for d in dirs:
        try:
            it = os.scandir(d)
        except OSError:
            continue
        with it:
            for e in it:
                n = e.name
                if n.endswith(".dist-info") or n.endswith(".egg-info"):
                    stem = n.rsplit(".", 1)[0]
                    name, _, version = stem.partition("-")
                    if n.endswith(".egg-info"):
                        version = version.split("-py", 1)[0]
                    packages.setdefault(normalize(name), version)
                elif n.endswith(".py"):
                    modules.add(n[:-3])
                elif n.endswith((".so", ".pyd")):
                    modules.add(n.split(".", 1)[0])
                elif "." not in n and n != "__pycache__":
                    modules.add(n)
    return packages, frozenset(modules)


def find_executable(prefix: str) -> tuple[str | None, bool]:
    """``(path, broken)``: the env's interpreter, and whether it is a dangling symlink.

    The path is never resolved: ``<venv>/bin/python`` stays as it is even when
    it links into ``/usr``.
    """
    broken: str | None = None
    for rel in (
        ("bin", "python"),
        ("bin", "python3"),
        ("Scripts", "python.exe"),
        ("python.exe",),
        ("bin", "pypy3"),
    ):
        p = os.path.join(prefix, *rel)
        try:
            os.stat(p)
            return p, False
        except FileNotFoundError:
            if broken is None and os.path.islink(p):
                broken = p
        except OSError:
            return p, False
    return (broken, True) if broken else (None, False)


def stamp(paths: Iterable[str]) -> list[int]:
    """mtimes (ns) of ``paths``, -1 for a missing one: a cached probe is valid while equal."""
    out = []
    for p in paths:
        try:
            out.append(os.stat(p).st_mtime_ns)
        except OSError:
            out.append(-1)
    return out
