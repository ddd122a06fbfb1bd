"""How a kernel is launched in an environment: command line, environment
variables, and the settings the server gives the engine.

DESIGN decision 9: the launch environment is rebuilt every time from a
baseline captured once at server start, so PATH cannot grow across switches
and the server's own ``os.environ`` is never touched.
"""

from __future__ import annotations

import hashlib
import json
import os
import site
import sys
import sysconfig
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..envs import MODE_NATIVE, MODE_OVERLAY, EnvRecord

#: Variables a target env sets for itself; never inherited from the server.
_ENV_OWNED = (
    "PYTHONHOME",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "VIRTUAL_ENV_PROMPT",
    "CONDA_PREFIX",
    "CONDA_DEFAULT_ENV",
    "CONDA_PROMPT_MODIFIER",
    "CONDA_SHLVL",
    "CONDA_PYTHON_EXE",
)
_LAUNCHERS = ("ipykernel_launcher", "ipykernel")


@dataclass(frozen=True)
class LaunchTarget:
    """Where a kernel runs: the env's interpreter (never canonicalized) and mode."""

    prefix: str
    executable: str
    mode: str
    kind: str
    name: str
    version: str | None
    record: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def from_record(cls, rec: EnvRecord) -> LaunchTarget:
        assert rec.executable, "a target needs an interpreter"
        return cls(rec.prefix, rec.executable, rec.mode, rec.kind, rec.name, rec.version,
                   rec.to_json())


@dataclass
class Settings:
    """What the server tells the engine (set once by the extension app).

    ``server_url`` / ``token`` are callables because the port is known only
    once the server listens.
    """

    baseline: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    server_url: Callable[[], str] | None = None
    token: Callable[[], str] | None = None
    version_policy: str = "native"
    timeout: float = 60.0


settings = Settings()


def configure(**kwargs: Any) -> Settings:
    """Capture the baseline now and set the server's callables (server start)."""
    global settings
    settings = Settings(baseline=dict(os.environ), **kwargs)
    return settings


def _is_env_bin(d: str) -> bool:
    parent = os.path.dirname(d.rstrip(os.sep))
    return os.path.basename(d.rstrip(os.sep)) in ("bin", "Scripts") and (
        os.path.isfile(os.path.join(parent, "pyvenv.cfg"))
        or os.path.isdir(os.path.join(parent, "conda-meta"))
    )


def launch_env(target: LaunchTarget, given: Mapping[str, str], kernel_id: str) -> dict[str, str]:
    """The kernel's environment: the baseline, what the server added for this
    kernel (``JPY_*`` and other new keys), the target's bin first on PATH."""
    base = settings.baseline
    env = dict(base)
    for k, v in given.items():
        if k not in base or k.startswith("JPY_"):
            env[k] = v
    for k in _ENV_OWNED:
        env.pop(k, None)
    bin_dir = os.path.dirname(target.executable)
    # Other envs' bin folders (the server's own activated venv) are dropped so
    # only the target's Python tools are found first.
    rest = [d for d in base.get("PATH", "").split(os.pathsep) if d and not _is_env_bin(d)]
    path: list[str] = []
    for d in [bin_dir, *rest]:
        if d not in path:
            path.append(d)
    env["PATH"] = os.pathsep.join(path)
    if os.path.isfile(os.path.join(target.prefix, "pyvenv.cfg")):
        env["VIRTUAL_ENV"] = target.prefix
    elif os.path.isdir(os.path.join(target.prefix, "conda-meta")):
        env["CONDA_PREFIX"] = target.prefix
        env["CONDA_DEFAULT_ENV"] = target.name or os.path.basename(target.prefix)
    env["KERNELSWITCH_KERNEL_ID"] = kernel_id
    env["KERNELSWITCH_ENV"] = target.prefix
    env["KERNELSWITCH_MODE"] = target.mode
    if settings.server_url is not None:
        env["KERNELSWITCH_URL"] = settings.server_url()
    if settings.token is not None:
        env["KERNELSWITCH_TOKEN"] = settings.token()
    return env


def launcher_index(cmd: list[str]) -> int | None:
    """Index of ``ipykernel_launcher`` after ``-m`` in a kernel command, if any."""
    for i in range(1, len(cmd) - 1):
        if cmd[i] == "-m" and cmd[i + 1] in _LAUNCHERS:
            return i + 1
    return None


def launch_argv(target: LaunchTarget, cmd: list[str], magics: bool = False) -> list[str]:
    """``cmd`` (a formatted ipykernel kernelspec command) rewritten for ``target``.

    native: the target's own interpreter runs ``-m ipykernel_launcher``, with
    only the kernel side of kernelswitch appended to ``sys.path`` (so
    ``%load_ext kernelswitch`` works where kernelswitch is not installed).
    overlay: a tiny bootstrap appends the server's site-packages at the end of
    ``sys.path`` (the env's own packages win), then starts ipykernel.
    ``magics``: load ``%pyenv``/``%vm`` at start (a kernel a switch started
    keeps the magics the user switched with).
    """
    i = launcher_index(cmd)
    if i is None:
        raise ValueError(f"not an ipykernel command: {cmd!r}")
    rest = cmd[i + 1 :]
    load = ["--IPKernelApp.exec_lines=%load_ext kernelswitch"] if magics else []
    if target.mode == MODE_NATIVE:
        append = f"__import__('sys').path.append({kernelside_path()!r})"
        return [target.executable, "-m", cmd[i], *rest,
                f"--IPKernelApp.exec_lines={append}", *load]  # fmt: skip
    if target.mode == MODE_OVERLAY:
        return [target.executable, "-c", _overlay_boot(), *rest, *load]
    raise ValueError(f"mode {target.mode!r} cannot be launched")


def _overlay_boot() -> str:
    paths = overlay_paths()
    return (
        "import sys, site\n"
        "del sys.path[0]\n"  # -c put the working directory first
        f"for p in {json.dumps(paths)}:\n"
        "    site.addsitedir(p)\n"
        "from ipykernel import kernelapp\n"
        "kernelapp.launch_new_instance()\n"
    )


def overlay_paths() -> list[str]:
    """The server's site-packages (where its ipykernel lives), in its order."""
    out: list[str] = []
    for p in [*site.getsitepackages(), sysconfig.get_paths()["purelib"],
              sysconfig.get_paths()["platlib"]]:
        if p not in out and os.path.isdir(p):
            out.append(p)
    return out


def kernelside_path() -> str:
    """A folder holding only a ``kernelswitch`` link to this package.

    Appended to a native kernel's ``sys.path`` so it can import the kernel
    side, never the server's whole site-packages (that would mix the server's
    packages into an env that has its own).
    """
    from .._paths import cache_dir

    pkg = Path(__file__).resolve().parent.parent
    folder = cache_dir() / "kernelside" / hashlib.sha1(str(pkg).encode()).hexdigest()[:12]
    link = folder / "kernelswitch"
    if not link.is_symlink() or os.readlink(link) != str(pkg):
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".kernelswitch-{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(pkg)
        os.replace(tmp, link)  # atomic: concurrent servers never see a half link
    return str(folder)


def home_record(executable: str | None = None) -> EnvRecord | None:
    """The env of the interpreter a kernelspec names (``python``/``python3`` is
    the server's own, as jupyter_client reads it), or None if it is not one."""
    from ..envs import resolve
    from ..errors import KernelSwitchError

    exe = executable or sys.executable
    if os.path.basename(exe) in _BARE_PYTHONS and os.sep not in exe:
        exe = sys.executable
    try:
        return resolve(exe)
    except KernelSwitchError:
        return None


_BARE_PYTHONS = ("python", "python3", "python{}.{}".format(*sys.version_info[:2]))
