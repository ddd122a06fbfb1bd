"""align: install into a target env what a notebook imports and the target lacks.

Public API: :func:`plan_align` ``(current, target, imports, nb_dir=None) -> AlignPlan``
and :func:`run_align` ``(plan, emit) -> (returncode, installed)`` (async).

Which distribution provides an import is asked of the *current* env's own
interpreter (``importlib.metadata.packages_distributions`` run by a small
probe): the current env is the kernel's, not necessarily the server's, and
only that interpreter reads its metadata the way its imports resolve. The
versions are the current env's, so the target ends up with what the notebook
ran with. The command is the target's own pip (``uv pip --python`` when uv
is on PATH: no pip needed in the target); a target without pip gets
``python -m ensurepip`` first, or, when its Python has no ensurepip, a hint
instead of a command.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ._compare import _satisfied, overlay_server, provides
from ._record import EnvRecord
from .errors import EnvError

#: Seconds the distribution probe may take (it imports nothing but metadata).
PROBE_TIMEOUT = 30.0

# Runs in the current env's interpreter: import name -> [distribution, version]
# (packages_distributions is 3.10+; older ones read top_level.txt and RECORD).
_PROBE = r"""
import json, sys
import importlib.metadata as md
want = json.loads(sys.argv[1])
out = {}
try:
    mapping = md.packages_distributions()
except AttributeError:
    mapping = {}
    for d in md.distributions():
        tops = (d.read_text("top_level.txt") or "").split()
        tops += [f.parts[0].split(".")[0] for f in (d.files or []) if f.parts]
        for t in tops:
            mapping.setdefault(t, []).append(d.metadata["Name"])
for name in want:
    for dist in mapping.get(name, []):
        try:
            out[name] = [dist, md.version(dist)]
        except Exception:
            out[name] = [dist, None]
        break
print(json.dumps(out))
"""


class AlignError(EnvError):
    """The distributions could not be read from the current env."""

    code = "align_failed"
    http_status = 502


@dataclass
class AlignPlan:
    """What align would do; ``to_json()`` is the REST answer before confirming."""

    target: EnvRecord
    tool: str
    installs: list[dict[str, Any]] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    pip_missing: bool = False
    #: argv of each step (ensurepip first when the target has no pip)
    steps: list[list[str]] = field(default_factory=list)
    hint: str | None = None

    @property
    def command(self) -> list[str]:
        return self.steps[-1] if self.steps else []

    @property
    def command_text(self) -> str:
        return " && ".join(shlex.join(s) for s in self.steps)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "target": self.target.to_json(),
            "tool": self.tool,
            "command": self.command,
            "steps": self.steps,
            "command_text": self.command_text,
            "installs": self.installs,
            "unmapped": self.unmapped,
            "pip_missing": self.pip_missing,
        }
        if self.hint:
            out["hint"] = self.hint
        return out


def distributions_for(python: str, imports: list[str]) -> dict[str, tuple[str, str | None]]:
    """``{import: (distribution, version)}`` as ``python``'s env sees them."""
    if not imports:
        return {}
    try:
        res = subprocess.run([python, "-I", "-c", _PROBE, json.dumps(imports)],
                             capture_output=True, text=True, timeout=PROBE_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise AlignError(f"could not ask {python} which distributions provide "
                         f"{', '.join(imports)}: {e}", details={"path": python}) from e
    if res.returncode != 0:
        raise AlignError(f"{python} could not read its distributions: "
                         f"{res.stderr.strip()[-500:]}", details={"path": python})
    data = json.loads(res.stdout.strip().splitlines()[-1])
    return {k: (v[0], v[1]) for k, v in data.items()}


def needed_imports(imports: list[str], target: EnvRecord, nb_dir: str | None) -> list[str]:
    """The imports ``target`` cannot satisfy (the server's count in overlay mode)."""
    srv = overlay_server(target)
    return [n for n in imports if not _satisfied(n, target, nb_dir)
            and not (srv is not None and provides(srv, n))]


def plan_align(current: EnvRecord, target: EnvRecord, imports: list[str],
               nb_dir: str | None = None) -> AlignPlan:
    """What to install into ``target`` so ``imports`` work there as in ``current``."""
    if not target.executable:
        raise EnvError(f"{target.prefix} has no interpreter to install into: {target.reason}",
                       details={"path": target.prefix})
    need = needed_imports(imports, target, nb_dir)
    found: dict[str, tuple[str, str | None]] = {}
    if current.executable:
        found = distributions_for(current.executable, need)
    left = [n for n in need if n not in found]
    srv = overlay_server(current)
    if left and srv is not None and srv.executable:  # the kernel imported them from the server
        found.update(distributions_for(srv.executable, left))
    installs = [{"import": n, "distribution": found[n][0], "version": found[n][1]}
                for n in need if n in found]
    unmapped = [n for n in need if n not in found]
    uv = shutil.which("uv")
    exe = target.executable
    pip_missing = "pip" not in target.packages
    specs: list[str] = sorted({f"{i['distribution']}=={i['version']}" if i["version"]
                               else str(i["distribution"]) for i in installs})
    plan = AlignPlan(target, "uv" if uv else "pip", installs, unmapped, pip_missing)
    if not specs:
        return plan
    if uv:
        plan.steps = [[uv, "pip", "install", "--python", exe, *specs]]
    elif not pip_missing:
        plan.steps = [[exe, "-m", "pip", "install", *specs]]
    elif _has_ensurepip(target):
        plan.steps = [[exe, "-m", "ensurepip", "--default-pip"],
                      [exe, "-m", "pip", "install", *specs]]
        plan.hint = f"{target.prefix} has no pip: ensurepip installs it first"
    else:
        plan.hint = (f"{target.prefix} has no pip and its Python has no ensurepip; install pip "
                     "into it (for Debian's Python: the python3-pip package), or install uv, "
                     "then align again")
    return plan


def _has_ensurepip(target: EnvRecord) -> bool:
    """The target's Python ships ``ensurepip`` (Debian's needs python3-venv)."""
    assert target.executable
    try:
        res = subprocess.run([target.executable, "-I", "-c", "import ensurepip"],
                             capture_output=True, timeout=PROBE_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return res.returncode == 0


async def run_align(plan: AlignPlan, emit: Callable[[str], Awaitable[None]]) -> int:
    """Run the plan's steps, passing each line of output to ``emit``; the
    first failing step's return code, or 0."""
    return await run_steps(plan.steps, emit)


async def run_steps(steps: list[list[str]], emit: Callable[[str], Awaitable[None]],
                    step: Callable[[int, list[str]], Awaitable[None]] | None = None) -> int:
    """Run commands one after the other, each line of their output to ``emit``
    (``step(i, argv)`` before each); the first failing one's return code, or 0.
    (Also :mod:`._create`'s.)"""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    for i, argv in enumerate(steps):
        if step is not None:
            await step(i, argv)
        await emit(f"$ {shlex.join(argv)}\n")
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL, env=env)
        assert proc.stdout is not None
        async for raw in proc.stdout:
            await emit(raw.decode("utf-8", "replace"))
        code = await proc.wait()
        if code != 0:
            return code
    return 0
