"""One real server and real envs for the switching tests (module-scoped: cheap)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.jupyter import RunningServer, jupyter_server
from support.venvs import make_venv

SYSTEM_PY = "/usr/bin/python3"


@pytest.fixture(scope="session")
def envs(tmp_path_factory: pytest.TempPathFactory, ipykernel_venv: Path) -> dict[str, Path]:
    """native (ipykernel venv), overlay (venv without pip), a symlink to the
    overlay venv, the system interpreter, and broken ones."""
    root = tmp_path_factory.mktemp("switch-envs")
    overlay = make_venv(root / "overlay-env")
    link = root / "linked-env"
    link.symlink_to(overlay)
    # an interpreter that exits at start: a venv whose python is a script
    dying = make_venv(root / "dying-env")
    exe = dying / "bin" / "python"
    exe.unlink()
    exe.write_text("#!/bin/sh\necho 'I refuse to start' >&2\nexit 3\n")
    exe.chmod(0o755)
    # ipykernel that fails to import: a venv that has ipykernel's metadata
    # and a package that raises on import
    broken = make_venv(root / "broken-ipykernel")
    site = next((broken / "lib").glob("python*/site-packages"))
    (site / "ipykernel").mkdir()
    (site / "ipykernel" / "__init__.py").write_text("raise ImportError('ipykernel is broken')\n")
    (site / "ipykernel_launcher.py").write_text("import ipykernel\n")
    dist = site / "ipykernel-6.29.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ipykernel\nVersion: 6.29.0\n")
    (root / "not-python.txt").write_text("hello\n")
    named = make_venv(root / "named-env")  # no link points at it: its name is unique
    return {
        "native": ipykernel_venv, "overlay": overlay, "linked": link,
        "system": Path(SYSTEM_PY), "dying": dying, "named": named, "broken": broken, "root": root,
    }  # fmt: skip


@pytest.fixture(scope="module")
def server(envs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("switch-server")
    # a kernelspec of another env, as `python -m ipykernel install --user` makes them
    data = tmp_path_factory.mktemp("jupyter-data")
    spec = data / "kernels" / "venv-native"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(envs["native"] / "bin" / "python"), "-m", "ipykernel_launcher",
                 "-f", "{connection_file}"],
        "display_name": "venv-native", "language": "python",
    }))  # fmt: skip
    with jupyter_server(root, extra_args=[
        f"--KernelSwitchApp.env_roots={envs['root']}", "--KernelSwitchApp.env_depth=2",
    ], env={"JUPYTER_PATH": str(data)}) as srv:  # fmt: skip
        yield srv


def kernel_pids(server: RunningServer) -> list[int]:
    """PIDs of the server's child processes (its kernels)."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(server.proc.pid)],
                         capture_output=True, text=True)
    return sorted(int(p) for p in out.stdout.split())


def expected_python(p: Path) -> str:
    return str(p) if p.is_file() else str(p / "bin" / "python")

