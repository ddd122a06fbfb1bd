"""The built-in locators: where poetry, pipenv, hatch, virtualenvwrapper, pyenv,
conda, uv, virtualenv and venv keep their environments, and the system's
Pythons. Registered by :mod:`.locators` (which re-exports them, so the entry
points keep naming ``kernelswitch.envs.locators:...``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path

from ._files import env_markers, read_head, version_from_dirname
from ._locator_base import (
    Candidate,
    Locator,
    env_path,
    home_dir,
    in_project,
    subfolders,
    xdg,
)

log = logging.getLogger("kernelswitch.envs.locators")

_PIPENV_NAME = re.compile(r"^.+-[A-Za-z0-9_-]{8}$")
_POETRY_NAME = re.compile(r"^.+-[A-Za-z0-9_-]{8}-py\d+\.\d+$")


class PoetryLocator(Locator):
    """Poetry: ``$POETRY_VIRTUALENVS_PATH`` or ``~/.cache/pypoetry/virtualenvs``,
    and in-project ``.venv`` folders next to a ``poetry.lock``."""

    kind = "poetry"
    priority = 10

    def folder(self) -> Path:
        return env_path("POETRY_VIRTUALENVS_PATH") or xdg(
            "XDG_CACHE_HOME", ".cache"
        ) / "pypoetry" / "virtualenvs"

    @cached_property
    def _folder(self) -> str:
        return os.path.abspath(self.folder())

    def locations(self) -> Iterable[Candidate]:
        return self._venvs_in(self.folder())

    def claim(self, cand: Candidate) -> bool:
        return os.path.dirname(cand.prefix) == self._folder or in_project(
            cand.prefix, "poetry.lock"
        )


class PipenvLocator(Locator):
    """Pipenv: ``$WORKON_HOME`` or ``~/.local/share/virtualenvs`` (``name-XXXXXXXX``
    folders), and in-project ``.venv`` folders next to a ``Pipfile``."""

    kind = "pipenv"
    priority = 20

    def folders(self) -> list[Path]:
        out = [xdg("XDG_DATA_HOME", ".local/share") / "virtualenvs"]
        w = env_path("WORKON_HOME")
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
        return in_project(cand.prefix, "Pipfile")


class HatchLocator(Locator):
    """Hatch: ``$HATCH_DATA_DIR/env/virtual/<project>/<hash>/<env>``."""

    kind = "hatch"
    priority = 30

    def folder(self) -> Path:
        base = env_path("HATCH_DATA_DIR") or xdg("XDG_DATA_HOME", ".local/share") / "hatch"
        return base / "env" / "virtual"

    def locations(self) -> Iterable[Candidate]:
        for project in subfolders(self.folder()):
            for h in subfolders(Path(project)):
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
        return env_path("WORKON_HOME") or home_dir() / ".virtualenvs"

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
        return env_path("PYENV_ROOT") or home_dir() / ".pyenv"

    def locations(self) -> Iterable[Candidate]:
        versions = self.root() / "versions"
        seen: set[str] = set()
        for p in subfolders(versions):
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
            for e in subfolders(Path(p) / "envs"):
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
        home = home_dir()
        out = [home / b for b in self._BASES]
        out += [Path("/opt/conda"), Path("/opt/miniconda3"), Path("/opt/anaconda3")]
        for var in ("CONDA_ROOT", "MAMBA_ROOT_PREFIX"):
            p = env_path(var)
            if p:
                out.append(p)
        exe = env_path("CONDA_EXE")
        if exe:
            out.append(exe.parent.parent)
        return out

    def locations(self) -> Iterable[Candidate]:
        paths: list[str] = []
        txt = home_dir() / ".conda" / "environments.txt"
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
            paths += list(subfolders(base / "envs"))
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
        return env_path("UV_PYTHON_INSTALL_DIR") or xdg(
            "XDG_DATA_HOME", ".local/share"
        ) / "uv" / "python"

    def locations(self) -> Iterable[Candidate]:
        for p in subfolders(self.folder()):
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
