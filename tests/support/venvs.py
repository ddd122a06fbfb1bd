"""Real virtual environments for tests: plain ones, and one with ipykernel (cached)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

PY = f"{sys.version_info.major}.{sys.version_info.minor}"


def make_venv(path: Path, *extra: str) -> Path:
    """A real venv made by ``python -m venv`` (no pip: fast, still a real venv)."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", *extra, str(path)],
        check=True,
        capture_output=True,
    )
    return path


def ipykernel_venv(cache: Path) -> Path:
    """A real venv with only ipykernel (and its dependencies) pip-installed,
    built once per Python version under *cache* so re-runs take no time."""
    root = cache / "testenvs" / f"py{PY}-ipykernel"
    done = root / ".kernelswitch-ready"
    if not done.exists():
        shutil.rmtree(root, ignore_errors=True)
        make_venv(root)
        pip = subprocess.run(
            [
                sys.executable, "-m", "pip", "--python", str(root / "bin" / "python"),
                "install", "--quiet", "--disable-pip-version-check", "ipykernel",
            ],
            capture_output=True,
            text=True,
        )  # fmt: skip
        assert pip.returncode == 0, f"pip install ipykernel failed:\n{pip.stderr}"
        done.write_text("ok\n")
    return root
