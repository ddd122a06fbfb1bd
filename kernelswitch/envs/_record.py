"""The env record of DESIGN.md, the discovery result, and modes.

``mode`` is always relative to the interpreter running the server (the
process that imports this module): see :func:`compute_mode`.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from typing import Any

MODE_NATIVE = "native"
MODE_OVERLAY = "overlay"
MODE_INCOMPATIBLE = "incompatible"

_MM = re.compile(r"^(\d+)\.(\d+)")


def major_minor(version: str | None) -> tuple[int, int] | None:
    """``"3.11.7"`` -> ``(3, 11)``; None when the version says nothing."""
    if not version:
        return None
    m = _MM.match(version)
    return (int(m.group(1)), int(m.group(2))) if m else None


@dataclass(frozen=True)
class ServerPython:
    """The interpreter running the server, which modes are relative to."""

    executable: str
    version: str
    version_info: tuple[int, int]


def server_python() -> ServerPython:
    """The interpreter running this process (``sys.executable``, ``sys.version_info``)."""
    v = sys.version_info
    return ServerPython(sys.executable, f"{v.major}.{v.minor}.{v.micro}", (v.major, v.minor))


def compute_mode(
    version: str | None,
    has_ipykernel: bool,
    error: str | None,
    executable: str | None,
    server: ServerPython | None = None,
) -> tuple[str, str]:
    """``(mode, reason)`` of an environment relative to the server's Python.

    native: the env has ipykernel (any Python version) and runs its own kernel.
    overlay: no ipykernel but the same major.minor as the server, so the
    server's kernel packages can be appended to the env's ``sys.path``.
    Anything else is incompatible, and the reason names the fix.
    """
    server = server or server_python()
    smm = "{}.{}".format(*server.version_info)
    fix_exe = executable or "<env>/bin/python"
    if error:
        return MODE_INCOMPATIBLE, error
    if has_ipykernel:
        return MODE_NATIVE, "has ipykernel: runs its own kernel"
    mm = major_minor(version)
    if mm is None:
        return (
            MODE_INCOMPATIBLE,
            "no ipykernel and its Python version could not be read from files; "
            f"run `{fix_exe} -m pip install ipykernel`, or resolve it to probe the interpreter",
        )
    if mm == server.version_info:
        return (
            MODE_OVERLAY,
            f"no ipykernel, same Python {smm} as the server: "
            "the server's kernel packages are appended to its sys.path",
        )
    return (
        MODE_INCOMPATIBLE,
        f"no ipykernel and Python {mm[0]}.{mm[1]} differs from the server's {smm}; "
        f"run `{fix_exe} -m pip install ipykernel`",
    )


@dataclass
class EnvRecord:
    """One Python environment (or bare interpreter), as DESIGN.md's env record.

    ``to_json()`` gives exactly ``kind, name, prefix, executable, version,
    version_source, has_ipykernel, mode, error`` plus ``reason`` (why that
    mode), and ``packages`` only when asked for.
    """

    kind: str
    name: str
    prefix: str
    executable: str | None
    version: str | None
    version_source: str | None
    has_ipykernel: bool
    mode: str = MODE_INCOMPATIBLE
    error: str | None = None
    reason: str = ""
    #: normalized distribution name -> version, read from *.dist-info / *.egg-info
    packages: dict[str, str] = field(default_factory=dict, repr=False)
    #: top-level importable names in the env's site-packages (not in JSON)
    modules: frozenset[str] = field(default_factory=frozenset, repr=False)
    #: the pyvenv.cfg keys that were read (venvs only; not in JSON)
    config: dict[str, str] = field(default_factory=dict, repr=False)

    def with_mode(self, server: ServerPython | None = None) -> EnvRecord:
        """Fill ``mode`` and ``reason`` relative to ``server`` (default: this process)."""
        self.mode, self.reason = compute_mode(
            self.version, self.has_ipykernel, self.error, self.executable, server
        )
        return self

    def to_json(self, packages: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "name": self.name,
            "prefix": self.prefix,
            "executable": self.executable,
            "version": self.version,
            "version_source": self.version_source,
            "has_ipykernel": self.has_ipykernel,
            "mode": self.mode,
            "error": self.error,
            "reason": self.reason,
        }
        if packages:
            out["packages"] = dict(sorted(self.packages.items()))
        return out


@dataclass
class ScanError:
    """A path the scan could not read; the scan went on without it."""

    path: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


@dataclass
class Discovery:
    """What :func:`~kernelswitch.envs.discover` found.

    ``partial`` is True when the time budget ran out before the whole tree was
    scanned; ``errors`` lists unreadable paths and failed locator plugins.
    """

    envs: list[EnvRecord]
    partial: bool = False
    errors: list[ScanError] = field(default_factory=list)
    elapsed: float = 0.0
    #: why the list is partial (deadline, another scan running); None when complete
    reason: str | None = None

    def to_json(self, packages: bool = False) -> dict[str, Any]:
        server = server_python()
        return {
            "envs": [e.to_json(packages) for e in self.envs],
            "partial": self.partial,
            "reason": self.reason,
            "errors": [e.to_json() for e in self.errors],
            "server": {"executable": server.executable, "version": server.version},
        }
