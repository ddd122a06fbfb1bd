"""Locators: where each tool keeps its environments, and which envs are whose.

A locator is a plugin registered under the entry-point group
:data:`ENTRY_POINT_GROUP` (``kernelswitch.locators``). :func:`discover` calls,
for every locator:

1. :meth:`Locator.locations` once per scan, before the directory walk: the
   environments in the tool's own well-known places (``~/.pyenv/versions``,
   ``~/.conda/environments.txt``, ...). A candidate returned here already
   carries its ``kind``.
2. :meth:`Locator.claim` for every environment the walk found under the
   scanned roots, in ``priority`` order (lower first): the first locator that
   claims it names its ``kind``. Specific tools (poetry, pipenv, uv ...) come
   before the generic ``venv`` locator, which claims anything with a
   ``pyvenv.cfg``.

Neither method may run an interpreter: they look at names, paths and the
already-parsed ``pyvenv.cfg`` only.

Built-in locators are always available (also before the package's entry
points are installed); third-party ones are loaded lazily on the first scan,
and one that fails to load is reported in ``Discovery.errors``, never raised.
"""

from __future__ import annotations

import logging
import os
import re
from abc import ABC
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import ClassVar

from ._files import env_markers, read_head, version_from_dirname

log = logging.getLogger(__name__)

#: Entry-point group of locator plugins (each entry point names a Locator subclass).
ENTRY_POINT_GROUP = "kernelswitch.locators"

_GENERIC_NAMES = frozenset({".venv", "venv", "env", ".env", "virtualenv", ".virtualenv"})
_PIPENV_NAME = re.compile(r"^.+-[A-Za-z0-9_-]{8}$")
_POETRY_NAME = re.compile(r"^.+-[A-Za-z0-9_-]{8}-py\d+\.\d+$")


@dataclass
class Candidate:
    """A folder that may be an environment, as a locator or the walk found it."""

    prefix: str
    kind: str | None = None
    name: str | None = None
    #: a specific interpreter of the prefix (system Pythons share ``/usr``)
    executable: str | None = None
    #: ``(version, version_source)`` known from where it was found
    version_hint: tuple[str, str] | None = None
    has_cfg: bool = False
    has_conda_meta: bool = False
    #: parsed pyvenv.cfg (filled in by discovery before ``claim`` is called)
    cfg: dict[str, str] = field(default_factory=dict)


def _home() -> Path:
    return Path(os.environ.get("HOME") or Path.home())


def _xdg(var: str, default: str) -> Path:
    v = os.environ.get(var)
    return Path(v) if v else _home() / default


def _env_path(var: str) -> Path | None:
    v = os.environ.get(var)
    return Path(v).expanduser() if v else None


def _children(folder: Path | None) -> Iterator[str]:
    """Absolute paths of the sub-folders of ``folder`` (nothing if it is missing)."""
    if folder is None:
        return
    try:
        with os.scandir(folder) as it:
            entries = [e.path for e in it if e.is_dir()]
    except OSError:
        return
    for p in sorted(entries):
        yield os.path.abspath(p)


def _in_project(prefix: str, marker: str) -> bool:
    """``prefix`` is a project's ``.venv`` whose project holds ``marker`` (poetry.lock ...)."""
    return os.path.basename(prefix) == ".venv" and os.path.exists(
        os.path.join(os.path.dirname(prefix), marker)
    )


def default_name(prefix: str) -> str:
    """The env folder's name, with its project for generic names (``proj/.venv``)."""
    base = os.path.basename(prefix.rstrip(os.sep)) or prefix
    if base in _GENERIC_NAMES:
        parent = os.path.basename(os.path.dirname(prefix.rstrip(os.sep)))
        return f"{parent}/{base}" if parent else base
    return base


class Locator(ABC):  # noqa: B024 - every hook is optional; subclasses override what they know
    """Base class of locator plugins (see the module docstring for who calls what)."""

    #: the ``kind`` of the env records this locator produces
    kind: ClassVar[str] = ""
    #: claim order; lower claims first (specific tools before generic venv)
    priority: ClassVar[int] = 500

    def locations(self) -> Iterable[Candidate]:
        """Environments in this tool's well-known places; called once per scan."""
        return ()

    def claim(self, cand: Candidate) -> bool:
        """True if ``cand`` (found by the walk) belongs to this tool."""
        return False

    def name(self, cand: Candidate) -> str:
        """The env's display name."""
        return cand.name or default_name(cand.prefix)

    def _venvs_in(self, folder: Path | None) -> Iterator[Candidate]:
        for p in _children(folder):
            has_cfg, has_conda = env_markers(p)
            if has_cfg or has_conda:
                yield Candidate(p, kind=self.kind, has_cfg=has_cfg, has_conda_meta=has_conda)


class PoetryLocator(Locator):
    """Poetry: ``$POETRY_VIRTUALENVS_PATH`` or ``~/.cache/pypoetry/virtualenvs``,
    and in-project ``.venv`` folders next to a ``poetry.lock``."""

    kind = "poetry"
    priority = 10

    def folder(self) -> Path:
        return _env_path("POETRY_VIRTUALENVS_PATH") or _xdg(
            "XDG_CACHE_HOME", ".cache"
        ) / "pypoetry" / "virtualenvs"

    @cached_property
    def _folder(self) -> str:
        return os.path.abspath(self.folder())

    def locations(self) -> Iterable[Candidate]:
        return self._venvs_in(self.folder())

    def claim(self, cand: Candidate) -> bool:
        return os.path.dirname(cand.prefix) == self._folder or _in_project(
            cand.prefix, "poetry.lock"
        )


class PipenvLocator(Locator):
    """Pipenv: ``$WORKON_HOME`` or ``~/.local/share/virtualenvs`` (``name-XXXXXXXX``
    folders), and in-project ``.venv`` folders next to a ``Pipfile``."""

    kind = "pipenv"
    priority = 20

    def folders(self) -> list[Path]:
        out = [_xdg("XDG_DATA_HOME", ".local/share") / "virtualenvs"]
        w = _env_path("WORKON_HOME")
        if w:
            out.insert(0, w)
        return out

    def locations(self) -> Iterable[Candidate]:
        for f in self.folders():
            for c in self._venvs_in(f):
                if self._pipenv_named(c.prefix):
                    yield c

    def _pipenv_named(self, prefix: str) -> bool:
        return bool(_PIPENV_NAME.match(os.path.basename(prefix))) and os.path.isfile(
            os.path.join(prefix, ".project")
        )

    @cached_property
    def _folders(self) -> frozenset[str]:
        return frozenset(os.path.abspath(f) for f in self.folders())

    def claim(self, cand: Candidate) -> bool:
        if os.path.dirname(cand.prefix) in self._folders and self._pipenv_named(cand.prefix):
            return True
        return _in_project(cand.prefix, "Pipfile")


class HatchLocator(Locator):
    """Hatch: ``$HATCH_DATA_DIR/env/virtual/<project>/<hash>/<env>``."""

    kind = "hatch"
    priority = 30

    def folder(self) -> Path:
        base = _env_path("HATCH_DATA_DIR") or _xdg("XDG_DATA_HOME", ".local/share") / "hatch"
        return base / "env" / "virtual"

    def locations(self) -> Iterable[Candidate]:
        for project in _children(self.folder()):
            for h in _children(Path(project)):
                yield from self._venvs_in(Path(h))

    @cached_property
    def _folder(self) -> str:
        return os.path.abspath(self.folder()) + os.sep

    def claim(self, cand: Candidate) -> bool:
        return cand.prefix.startswith(self._folder)


class VirtualenvwrapperLocator(Locator):
    """virtualenvwrapper: ``$WORKON_HOME`` (default ``~/.virtualenvs``)."""

    kind = "virtualenvwrapper"
    priority = 40

    def folder(self) -> Path:
        return _env_path("WORKON_HOME") or _home() / ".virtualenvs"

    def locations(self) -> Iterable[Candidate]:
        return self._venvs_in(self.folder())

    @cached_property
    def _folder(self) -> str:
        return os.path.abspath(self.folder())

    def claim(self, cand: Candidate) -> bool:
        return os.path.dirname(cand.prefix) == self._folder


class PyenvLocator(Locator):
    """pyenv: ``$PYENV_ROOT/versions/*`` (CPython builds, named by version) and
    pyenv-virtualenv's ``versions/X/envs/NAME``."""

    kind = "pyenv"
    priority = 50

    def root(self) -> Path:
        return _env_path("PYENV_ROOT") or _home() / ".pyenv"

    def locations(self) -> Iterable[Candidate]:
        versions = self.root() / "versions"
        seen: set[str] = set()
        for p in _children(versions):
            if os.path.islink(p):
                # pyenv-virtualenv's versions/NAME -> X/envs/NAME: found below
                continue
            has_cfg, has_conda = env_markers(p)
            name = os.path.basename(p)
            v = version_from_dirname(name)
            if has_conda:
                kind = "conda"  # e.g. pyenv install miniconda3-latest
            elif has_cfg:
                kind = "pyenv-virtualenv"
            else:
                kind = self.kind
            seen.add(p)
            yield Candidate(
                p,
                kind=kind,
                name=name,
                has_cfg=has_cfg,
                has_conda_meta=has_conda,
                version_hint=(v, "directory-name") if v and kind == self.kind else None,
            )
            for e in _children(Path(p) / "envs"):
                has_cfg, has_conda = env_markers(e)
                if has_cfg or has_conda:
                    yield Candidate(
                        e,
                        kind="conda" if has_conda else "pyenv-virtualenv",
                        name=os.path.basename(e),
                        has_cfg=has_cfg,
                        has_conda_meta=has_conda,
                    )

    @cached_property
    def _versions(self) -> str:
        return os.path.abspath(self.root() / "versions") + os.sep

    def claim(self, cand: Candidate) -> bool:
        return cand.has_cfg and cand.prefix.startswith(self._versions)

    def name(self, cand: Candidate) -> str:
        return cand.name or os.path.basename(cand.prefix)


class CondaLocator(Locator):
    """conda/mamba: ``~/.conda/environments.txt``, the usual base installs and
    their ``envs/``, ``$CONDA_PREFIX``; anything with ``conda-meta/``."""

    kind = "conda"
    priority = 60

    _BASES = (
        "miniconda3",
        "anaconda3",
        "miniforge3",
        "mambaforge",
        "micromamba",
        ".conda",
    )

    def _bases(self) -> list[Path]:
        home = _home()
        out = [home / b for b in self._BASES]
        out += [Path("/opt/conda"), Path("/opt/miniconda3"), Path("/opt/anaconda3")]
        for var in ("CONDA_ROOT", "MAMBA_ROOT_PREFIX"):
            p = _env_path(var)
            if p:
                out.append(p)
        exe = _env_path("CONDA_EXE")
        if exe:
            out.append(exe.parent.parent)
        return out

    def locations(self) -> Iterable[Candidate]:
        paths: list[str] = []
        txt = _home() / ".conda" / "environments.txt"
        try:
            # read_head: a FIFO planted here must not hang the scan
            text = read_head(str(txt)).decode("utf-8")
            paths += [ln.strip() for ln in text.splitlines() if ln.strip()]
        except (OSError, UnicodeDecodeError):
            pass
        prefix = os.environ.get("CONDA_PREFIX")
        if prefix:
            paths.append(prefix)
        for base in self._bases():
            paths.append(str(base))
            paths += list(_children(base / "envs"))
        for p in paths:
            p = os.path.abspath(os.path.expanduser(p))
            if os.path.isdir(os.path.join(p, "conda-meta")):
                yield Candidate(p, kind=self.kind, has_conda_meta=True,
                                has_cfg=os.path.isfile(os.path.join(p, "pyvenv.cfg")))

    def claim(self, cand: Candidate) -> bool:
        return cand.has_conda_meta

    def name(self, cand: Candidate) -> str:
        if cand.name:
            return cand.name
        if os.path.isdir(os.path.join(cand.prefix, "condabin")) or os.path.isdir(
            os.path.join(cand.prefix, "envs")
        ):
            return "base"
        return os.path.basename(cand.prefix)


class UvLocator(Locator):
    """uv: managed Pythons (``$UV_PYTHON_INSTALL_DIR`` or ``~/.local/share/uv/python``)
    and every venv whose ``pyvenv.cfg`` has a ``uv`` key (project ``.venv``)."""

    kind = "uv"
    priority = 70

    def folder(self) -> Path:
        return _env_path("UV_PYTHON_INSTALL_DIR") or _xdg(
            "XDG_DATA_HOME", ".local/share"
        ) / "uv" / "python"

    def locations(self) -> Iterable[Candidate]:
        for p in _children(self.folder()):
            name = os.path.basename(p)
            v = version_from_dirname(name)
            has_bin = os.path.isdir(os.path.join(p, "bin")) or os.path.exists(
                os.path.join(p, "python.exe")
            )
            if v is None or not has_bin:
                continue
            yield Candidate(p, kind=self.kind, name=name, version_hint=(v, "directory-name"))

    def claim(self, cand: Candidate) -> bool:
        return "uv" in cand.cfg


class VirtualenvLocator(Locator):
    """virtualenv (the tool): its ``pyvenv.cfg`` carries a ``virtualenv`` key."""

    kind = "virtualenv"
    priority = 80

    def claim(self, cand: Candidate) -> bool:
        return "virtualenv" in cand.cfg


class VenvLocator(Locator):
    """Generic: any folder with a ``pyvenv.cfg`` nobody more specific claimed."""

    kind = "venv"
    priority = 1000

    def claim(self, cand: Candidate) -> bool:
        return cand.has_cfg


class SystemLocator(Locator):
    """System interpreters: ``python3*`` on PATH, in ``/usr/bin`` and ``/usr/local/bin``.

    pyenv shims are skipped (they are scripts), and an interpreter on PATH that
    lives in a venv or conda env is reported as that env, not as a system one.
    """

    kind = "system"
    priority = 2000

    _NAME = re.compile(r"^python3(\.\d+)?$")

    def locations(self) -> Iterable[Candidate]:
        dirs = ["/usr/bin", "/usr/local/bin"]
        for d in os.environ.get("PATH", "").split(os.pathsep):
            if d and d not in dirs:
                dirs.append(d)
        for d in dirs:
            if not os.path.isabs(d) or os.path.basename(d) == "shims":
                continue
            try:
                with os.scandir(d) as it:
                    names = sorted(e.name for e in it if self._NAME.match(e.name))
            except OSError:
                continue
            prefix = os.path.dirname(d) or "/"
            has_cfg, has_conda = env_markers(prefix)
            if has_cfg or has_conda:
                yield Candidate(prefix, has_cfg=has_cfg, has_conda_meta=has_conda)
                continue
            for n in names:
                exe = os.path.join(d, n)
                if os.access(exe, os.X_OK):
                    yield Candidate(prefix, kind=self.kind, name=f"{n} ({d})", executable=exe)


#: Built-in locators, in claim order. They are also registered as entry points;
#: this list makes them work before the package metadata is installed.
BUILTIN_LOCATORS: tuple[type[Locator], ...] = (
    PoetryLocator,
    PipenvLocator,
    HatchLocator,
    VirtualenvwrapperLocator,
    PyenvLocator,
    CondaLocator,
    UvLocator,
    VirtualenvLocator,
    VenvLocator,
    SystemLocator,
)

#: ``name = value`` of each built-in's entry point (pyproject.toml lists the same).
BUILTIN_ENTRY_POINTS = {
    cls.kind: f"{__name__}:{cls.__name__}" for cls in BUILTIN_LOCATORS
}

_plugins: list[type[Locator]] | None = None
_plugin_errors: list[tuple[str, str]] = []


def _load_plugins() -> list[type[Locator]]:
    global _plugins
    if _plugins is not None:
        return _plugins
    from importlib.metadata import entry_points

    builtin_values = set(BUILTIN_ENTRY_POINTS.values())
    found: list[type[Locator]] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.value in builtin_values:
            continue
        try:
            cls = ep.load()
            if not (isinstance(cls, type) and issubclass(cls, Locator)):
                raise TypeError(f"{ep.value} is not a kernelswitch Locator subclass")
        except Exception as e:  # a broken plugin must not break discovery
            msg = f"locator plugin {ep.name!r} ({ep.value}) failed to load: {e}"
            log.warning("%s", msg)
            _plugin_errors.append((ep.name, msg))
            continue
        found.append(cls)
    _plugins = found
    return found


def classify(cand: Candidate, locators: Iterable[Locator]) -> tuple[str, str] | None:
    """``(kind, name)`` from the first locator that claims ``cand``, None if none does.

    A plugin that raises is logged and skipped: its bug must not stop a scan.
    """
    for loc in locators:
        try:
            if loc.claim(cand):
                return loc.kind, loc.name(cand)
        except Exception as e:
            log.warning("locator %s failed on %s: %s", loc.kind, cand.prefix, e)
    return None


def load_locators() -> tuple[list[Locator], list[tuple[str, str]]]:
    """Instances of every locator in claim order, and ``(name, message)`` of plugins
    that failed to load."""
    classes = list(BUILTIN_LOCATORS) + _load_plugins()
    locators = [cls() for cls in classes]
    locators.sort(key=lambda loc: loc.priority)
    return locators, list(_plugin_errors)
