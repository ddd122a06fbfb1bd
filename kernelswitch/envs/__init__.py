"""The environment engine: discover, resolve, probe and compare Python environments.

Pure Python, no Jupyter imports; the server, magics and CLI are thin clients.

Public API (stable; the server and tests rely on it):

``discover(roots=None, depth=5, budget=5.0, refresh=False) -> Discovery``
    Every environment under ``roots`` (default: home and the current
    directory) down to ``depth`` levels, plus those in each tool's own places
    (pyenv, conda, uv, poetry, pipenv, hatch, virtualenvwrapper, system).
    Reads files only, never runs an interpreter. ``Discovery`` has ``.envs``
    (``list[EnvRecord]``), ``.partial`` (the ``budget`` in seconds ran out),
    ``.errors`` (``list[ScanError]``: unreadable folders, broken plugins) and
    ``.to_json()``. Repeated calls reuse the walk for :data:`WALK_TTL` seconds
    and revalidate each env by mtime; ``refresh=True`` rescans everything.

``EnvRecord``
    ``to_json()`` gives ``kind, name, prefix, executable, version,
    version_source, has_ipykernel, mode, error`` and ``reason`` (why that
    mode); ``to_json(packages=True)`` adds ``packages`` (name -> version).
    ``mode`` is ``native`` / ``overlay`` / ``incompatible`` relative to the
    server's interpreter (:func:`server_python`), see DESIGN decision 7.

``resolve(target) -> EnvRecord``
    ``target`` is an interpreter path, an env folder, or ``""``/``"system"``.
    Paths are made absolute, never ``realpath``-ed. Raises :class:`EnvError`
    subclasses (all :class:`~kernelswitch.errors.KernelSwitchError`):
    :class:`EnvNotFound`, :class:`NotAPython`, :class:`BrokenSymlink`,
    :class:`BaseInterpreterGone`, :class:`EnvUnreadable`,
    :class:`InvalidEnvConfig`. Runs the interpreter (isolated, 5 s timeout,
    cached) only when no file told its version.

``compare(current, target, notebook=None) -> Comparison``
    ``current``/``target`` are records or targets for :func:`resolve`. Gives
    the target's mode and reason, the version change, packages missing from
    the target, and the notebook's imports the target cannot satisfy;
    ``to_json()``.

``server_python() -> ServerPython`` and ``compute_mode(...)``
    The interpreter modes are relative to (``sys.executable``,
    ``sys.version_info``) and the mode rule itself.

``EnvWatcher(roots, log, depth)``
    ``start()`` / ``stop()``; ``generation`` grows whenever an environment is
    made or removed under the roots (as deep as discovery looks), and the
    remembered walks are dropped then. See :mod:`kernelswitch.envs._watch`.

Locator plugins: see :mod:`kernelswitch.envs.locators` (entry-point group
``kernelswitch.locators``). The probe cache lives in
``kernelswitch._paths.cache_dir() / "envs"``.
"""

from __future__ import annotations

from ._compare import Comparison, compare, notebook_imports
from ._discovery import DEFAULT_BUDGET, DEFAULT_DEPTH, WALK_TTL, discover, forget_walks
from ._record import (
    MODE_INCOMPATIBLE,
    MODE_NATIVE,
    MODE_OVERLAY,
    Discovery,
    EnvRecord,
    ScanError,
    ServerPython,
    compute_mode,
    server_python,
)
from ._resolve import resolve, system_python
from ._watch import EnvWatcher
from .errors import (
    BaseInterpreterGone,
    BrokenSymlink,
    EnvError,
    EnvNotFound,
    EnvUnreadable,
    InvalidEnvConfig,
    NotAPython,
    NotebookError,
)
from .locators import ENTRY_POINT_GROUP, Locator

__all__ = [
    "DEFAULT_BUDGET",
    "DEFAULT_DEPTH",
    "ENTRY_POINT_GROUP",
    "MODE_INCOMPATIBLE",
    "MODE_NATIVE",
    "MODE_OVERLAY",
    "WALK_TTL",
    "BaseInterpreterGone",
    "BrokenSymlink",
    "Comparison",
    "Discovery",
    "EnvError",
    "EnvNotFound",
    "EnvRecord",
    "EnvUnreadable",
    "EnvWatcher",
    "InvalidEnvConfig",
    "Locator",
    "NotAPython",
    "NotebookError",
    "ScanError",
    "ServerPython",
    "compare",
    "compute_mode",
    "discover",
    "forget_walks",
    "notebook_imports",
    "resolve",
    "server_python",
    "system_python",
]
