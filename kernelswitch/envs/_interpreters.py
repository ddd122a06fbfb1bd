"""Interpreters a new environment can be made from: pyenv builds, the system
Python, and the base interpreters other envs were made from (their
``pyvenv.cfg`` ``home``).

Public API: :func:`base_interpreters` ``(envs) -> list[Interpreter]`` and
:func:`choose` ``(spec, found, default_version=None) -> Interpreter``.

Only interpreters already on the machine: a new env never downloads a
Python (uv could, but then the version would not be one the user saw in the
list).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from ._record import EnvRecord, major_minor
from .errors import EnvError, EnvNotFound

#: Which kinds are bare interpreters (not envs of one), best first for a version.
_ORDER = {"pyenv": 0, "system": 1, "base": 2}


@dataclass(frozen=True)
class Interpreter:
    executable: str
    version: str
    source: str  # pyenv | system | base (of another env)

    def to_json(self) -> dict[str, str]:
        return {"executable": self.executable, "version": self.version, "source": self.source}


def _base_of(rec: EnvRecord) -> str | None:
    """The interpreter a venv was made from (pyvenv.cfg ``home`` + its version)."""
    home = rec.config.get("home")
    if not home or not rec.version:
        return None
    mm = major_minor(rec.version)
    names = [f"python{mm[0]}.{mm[1]}"] if mm else []
    for name in [*names, "python3", "python"]:
        exe = os.path.join(home, name)
        if os.path.isfile(exe) and os.access(exe, os.X_OK):
            return exe
    return None


def base_interpreters(envs: Iterable[EnvRecord]) -> list[Interpreter]:
    """Every interpreter a venv can be made from, one per real file, best first."""
    found: dict[str, Interpreter] = {}
    for rec in envs:
        if rec.error or not rec.version:
            continue
        if rec.kind in ("pyenv", "system") and rec.executable:
            exe, source = rec.executable, rec.kind
        else:
            base = _base_of(rec)
            if base is None:
                continue
            exe, source = base, "base"
        try:
            key = os.path.realpath(exe)  # only to tell duplicates apart; the path stays
        except OSError:
            continue
        new = Interpreter(exe, rec.version, source)
        old = found.get(key)
        if old is None or _ORDER[source] < _ORDER[old.source]:
            found[key] = new
    return sorted(found.values(), key=_rank)


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def _rank(i: Interpreter) -> tuple[int, tuple[int, ...], str]:
    digits = tuple(-int(p) for p in i.version.split(".") if p.isdigit())
    return _ORDER[i.source], digits, i.executable


def _matches(version: str, want: str) -> bool:
    return version == want or version.startswith(want + ".")


def choose(spec: str | None, found: list[Interpreter],
           default_version: str | None = None) -> Interpreter:
    """The interpreter ``spec`` names: a path, or a version (``3.12``, ``3.12.1``)
    among ``found``. Without one: ``default_version``'s major.minor (the
    current env's), else the server's."""
    from ._resolve import resolve

    if spec and (os.sep in spec or spec.startswith("~")):
        rec = resolve(os.path.expanduser(spec))
        if not rec.executable or not rec.version:
            raise EnvError(f"{spec} is not a Python interpreter a venv can be made from: "
                           f"{rec.reason or rec.error}", details={"field": "python"})
        return Interpreter(rec.executable, rec.version, rec.kind)
    if spec:
        want = spec.removeprefix("python")
        if not all(p.isdigit() for p in want.split(".")) or not want:
            raise EnvError(f"--python {spec!r} is neither a version (like 3.12) nor a path to "
                           "an interpreter", details={"field": "python"})
    else:
        mm = major_minor(default_version) or sys.version_info[:2]
        want = f"{mm[0]}.{mm[1]}"
    hits = [i for i in found if _matches(i.version, want)]
    if not hits:
        have = ", ".join(sorted({i.version for i in found}, key=_numbers)) or "none"
        raise EnvNotFound(
            f"no Python {want} on this machine (found: {have}); pick one of those, or "
            "give the path of an interpreter with --python",
            details={"field": "python", "version": want},
        )
    # the newest patch release of the best source
    return sorted(hits, key=lambda i: (tuple(-int(p) for p in i.version.split(".")
                                             if p.isdigit()), _ORDER[i.source]))[0]
