"""The locator plugin interface: :class:`Candidate` and :class:`Locator`, and
the small path helpers locators share. :mod:`.locators` re-exports them.
"""

from __future__ import annotations

import os
from abc import ABC
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from ._files import env_markers

_GENERIC_NAMES = frozenset({".venv", "venv", "env", ".env", "virtualenv", ".virtualenv"})


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


def home_dir() -> Path:
    return Path(os.environ.get("HOME") or Path.home())


def xdg(var: str, default: str) -> Path:
    v = os.environ.get(var)
    return Path(v) if v else home_dir() / default


def env_path(var: str) -> Path | None:
    v = os.environ.get(var)
    return Path(v).expanduser() if v else None


def subfolders(folder: Path | None) -> Iterator[str]:
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


def in_project(prefix: str, marker: str) -> bool:
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
        for p in subfolders(folder):
            has_cfg, has_conda = env_markers(p)
            if has_cfg or has_conda:
                yield Candidate(p, kind=self.kind, has_cfg=has_cfg, has_conda_meta=has_conda)
