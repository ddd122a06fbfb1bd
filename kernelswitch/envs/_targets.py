"""What a user may type as a target: a path, ``system``, or a name from the list.

``%pyenv compare venv-pip`` and ``POST kernels/{id}/env {"target": "venv-pip"}``
take the names ``%pyenv list`` prints, as well as paths.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from . import EnvNotFound, EnvRecord, discover, resolve


def _looks_like_path(target: str) -> bool:
    return os.sep in target or target.startswith(("~", ".")) or os.path.exists(target)


def resolve_target(target: str, roots: Sequence[str] | None = None, depth: int = 5) -> EnvRecord:
    """The env record of a path, ``system``, or a listed env's name (or folder name)."""
    t = (target or "").strip()
    if t in ("", "system") or _looks_like_path(t):  # "" is the system Python, as for resolve
        return resolve(t)
    found = discover(roots=list(roots) if roots else None, depth=depth)
    by_name = [e for e in found.envs if e.name == t]
    if not by_name:
        by_name = [e for e in found.envs if os.path.basename(e.prefix) == t]
    prefixes = sorted({e.prefix for e in by_name})
    if len(prefixes) == 1:
        return resolve(by_name[0].executable or prefixes[0])
    if len(prefixes) > 1:
        raise EnvNotFound(
            f"{t!r} names {len(prefixes)} environments: {', '.join(prefixes)}; pass the path "
            "of the one you mean",
            details={"candidates": prefixes},
        )
    raise EnvNotFound(
        f"no environment named {t!r} in the environment list and no such path; pick a "
        "listed name, or give an interpreter or env folder",
        details={"target": t},
    )
