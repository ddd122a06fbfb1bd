"""Install ipykernel into an env that lacks it (after the user confirmed).

The command is built first and shown as is (``command_for``); ``install``
runs exactly that command, bounded in time, and returns its output. The
env's own pip is used when it has one; a venv made ``--without-pip`` gets
the server's pip pointed at it (``pip --python``, pip >= 22.3).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

from ..envs import EnvRecord
from .errors import SwitchError

#: Seconds pip may take (a slow mirror, wheels to build).
INSTALL_TIMEOUT = 600.0


class InstallFailed(SwitchError):
    code = "install_failed"
    http_status = 502


@dataclass
class InstallResult:
    command: list[str]
    returncode: int
    output: str


def command_for(rec: EnvRecord) -> list[str]:
    """The exact command that installs ipykernel into ``rec``."""
    if not rec.executable:
        raise InstallFailed(f"{rec.prefix} has no Python interpreter to install into")
    if "pip" in rec.packages:
        return [rec.executable, "-m", "pip", "install", "--disable-pip-version-check",
                "ipykernel"]
    return [sys.executable, "-m", "pip", "--python", rec.executable, "install",
            "--disable-pip-version-check", "ipykernel"]


def install(rec: EnvRecord, timeout: float = INSTALL_TIMEOUT) -> InstallResult:
    """Run :func:`command_for` (blocking: call it in a worker thread)."""
    cmd = command_for(rec)
    try:
        # one stream, in order: pip's last line ("Successfully installed ...")
        # must end what the user sees, after any warnings
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or "") if isinstance(e.stdout, str) else ""
        raise InstallFailed(
            f"installing ipykernel into {rec.prefix} took more than {timeout:g} s and was "
            f"stopped; run it yourself: {' '.join(cmd)}\n{out[-2000:]}",
            details={"command": cmd},
        ) from e
    output = done.stdout[-8000:]
    if done.returncode != 0:
        raise InstallFailed(
            f"`{' '.join(cmd)}` failed (exit {done.returncode}); its output:\n{output[-3000:]}",
            details={"command": cmd, "output": output},
        )
    return InstallResult(cmd, done.returncode, output)
