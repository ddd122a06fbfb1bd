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
from collections.abc import Iterable

from ._builtin_locators import (
    CondaLocator,
    HatchLocator,
    PipenvLocator,
    PoetryLocator,
    PyenvLocator,
    SystemLocator,
    UvLocator,
    VenvLocator,
    VirtualenvLocator,
    VirtualenvwrapperLocator,
)
from ._locator_base import Candidate, Locator, default_name

__all__ = [
    "BUILTIN_ENTRY_POINTS",
    "BUILTIN_LOCATORS",
    "ENTRY_POINT_GROUP",
    "Candidate",
    "CondaLocator",
    "HatchLocator",
    "Locator",
    "PipenvLocator",
    "PoetryLocator",
    "PyenvLocator",
    "SystemLocator",
    "UvLocator",
    "VenvLocator",
    "VirtualenvLocator",
    "VirtualenvwrapperLocator",
    "classify",
    "default_name",
    "load_locators",
]

log = logging.getLogger(__name__)

#: Entry-point group of locator plugins (each entry point names a Locator subclass).
ENTRY_POINT_GROUP = "kernelswitch.locators"

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
