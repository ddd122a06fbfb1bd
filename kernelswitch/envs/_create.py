"""New environments: a venv (or uv venv) from an interpreter already on the
machine, with ipykernel so it runs its own kernel (native mode) at once.

Public API (stable; the server's ``POST envs``, ``%pyenv create`` and the CLI
use it):

:func:`plan_create` ``(path, python=None, tool=None, packages="none",
current=None, interpreters=(), roots=None) -> CreatePlan``
    Checks everything before anything is made: the folder is new or empty,
    it lies under ``roots`` (where the env list looks, so the env shows up),
    the interpreter is one of ``interpreters`` (or a path to one), uv only
    when it is installed. ``packages``: ``none`` (just ipykernel),
    ``current`` (``current``'s distributions at their versions; those not
    from an index, such as editable installs, are listed as ``skipped``), or
    a requirements file.
:func:`run_create` ``(plan, emit) -> int`` (async) runs the steps, passing
    every output line to ``emit``; the first failing step's exit code, or 0.

Packages come from the configured index only (pip's and uv's own settings);
a Python is never downloaded.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._align import PROBE_TIMEOUT, run_steps
from ._interpreters import Interpreter, choose
from ._record import EnvRecord
from .errors import EnvError

TOOLS = ("venv", "uv")


class EnvExists(EnvError):
    code = "env_exists"
    http_status = 409


class OutsideRoots(EnvError):
    code = "outside_roots"
    http_status = 422


# Runs in the current env's interpreter: its distributions, and which came
# from somewhere other than an index (direct_url.json: editable, a folder, a URL).
_DISTS = r"""
import json, importlib.metadata as md
out = []
for d in md.distributions():
    name = d.metadata["Name"]
    if name:
        out.append([name, d.version, d.read_text("direct_url.json") is not None])
print(json.dumps(out))
"""


@dataclass
class CreatePlan:
    path: str
    python: Interpreter
    tool: str
    packages: str
    specs: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    steps: list[list[str]] = field(default_factory=list)

    @property
    def executable(self) -> str:
        return os.path.join(self.path, "bin", "python")

    @property
    def command_text(self) -> str:
        return " && ".join(shlex.join(s) for s in self.steps)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "python": self.python.to_json(), "tool": self.tool,
                "packages": self.packages, "installs": self.specs, "skipped": self.skipped,
                "steps": self.steps, "command_text": self.command_text}


def current_distributions(python: str) -> tuple[list[str], list[str]]:
    """``(["name==version", ...] from an index, [names installed otherwise])``."""
    try:
        res = subprocess.run([python, "-I", "-c", _DISTS], capture_output=True, text=True,
                             timeout=PROBE_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise EnvError(f"could not ask {python} for its distributions: {e}",
                       details={"path": python}) from e
    if res.returncode != 0:
        raise EnvError(f"{python} could not list its distributions: "
                       f"{res.stderr.strip()[-500:]}", details={"path": python})
    specs, skipped = set(), set()
    for name, version, direct in json.loads(res.stdout.strip().splitlines()[-1]):
        (skipped.add(name) if direct else specs.add(f"{name}=={version}"))
    return sorted(specs, key=str.lower), sorted(skipped, key=str.lower)


def _check_path(path: str, roots: Sequence[str] | None) -> str:
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.exists(path) and (not os.path.isdir(path) or os.listdir(path)):
        raise EnvExists(f"{path} already exists and is not empty; pick a new folder (nothing "
                        "was changed)", details={"field": "path", "path": path})
    if roots is not None and not any(path.startswith(r.rstrip(os.sep) + os.sep)
                                     for r in roots):
        raise OutsideRoots(
            f"{path} is outside the folders scanned for environments ({', '.join(roots)}), "
            "so it would not show in the list; pick a path under one of them, or ask for "
            "its folder to be scanned too (add_root / --add-root)",
            details={"field": "path", "path": path, "roots": list(roots)})
    return path


def plan_create(path: str, python: str | None = None, tool: str | None = None,
                packages: str = "none", current: EnvRecord | None = None,
                interpreters: Sequence[Interpreter] = (),
                roots: Sequence[str] | None = None) -> CreatePlan:
    """What creating ``path`` would run; raises before anything is made."""
    path = _check_path(path, roots)
    uv = shutil.which("uv")
    if tool is None:
        tool = "uv" if uv else "venv"
    if tool not in TOOLS:
        raise EnvError(f"tool {tool!r} is not one of {', '.join(TOOLS)}",
                       details={"field": "tool"})
    if tool == "uv" and not uv:
        raise EnvError("uv is not installed here (not on PATH); use the venv tool",
                       details={"field": "tool"})
    interp = choose(python, list(interpreters), current.version if current else None)
    if interp.version.startswith("2."):
        raise EnvError(f"{interp.executable} is Python {interp.version}, which has no venv "
                       "and no current ipykernel; pick a Python 3", details={"field": "python"})
    plan = CreatePlan(path, interp, tool, packages)
    if packages == "none":
        plan.specs = ["ipykernel"]
    elif packages == "current":
        if current is None or not current.executable:
            raise EnvError("no current environment to copy the packages of",
                           details={"field": "packages"})
        plan.specs, plan.skipped = current_distributions(current.executable)
        if not any(s.lower().startswith("ipykernel==") for s in plan.specs):
            plan.specs.append("ipykernel")
    else:
        req = os.path.abspath(os.path.expanduser(packages))
        if not os.path.isfile(req):
            raise EnvError(f"packages must be none, current or a requirements file; {req} "
                           "is not a file", details={"field": "packages", "path": req})
        plan.specs = ["-r", req, "ipykernel"]
    plan.packages = packages
    if tool == "uv":
        assert uv
        plan.steps = [[uv, "venv", "--python", interp.executable, path],
                      [uv, "pip", "install", "--python", plan.executable, *plan.specs]]
    elif _has_ensurepip(interp.executable):
        plan.steps = [[interp.executable, "-m", "venv", path],
                      [plan.executable, "-m", "pip", "install", *plan.specs]]
    else:  # Debian's python3 without python3-venv: the server's pip installs into it
        plan.steps = [[interp.executable, "-m", "venv", "--without-pip", path],
                      [sys.executable, "-m", "pip", "--python", plan.executable, "install",
                       *plan.specs]]
    return plan


def _has_ensurepip(python: str) -> bool:
    try:
        res = subprocess.run([python, "-I", "-c", "import ensurepip"], capture_output=True,
                             timeout=PROBE_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return res.returncode == 0


async def run_create(plan: CreatePlan, emit: Callable[[str], Awaitable[None]],
                     step: Callable[[int, list[str]], Awaitable[None]] | None = None) -> int:
    """Run the plan; ``step(i, argv)`` is told before each step (progress)."""
    return await run_steps(plan.steps, emit, step)
