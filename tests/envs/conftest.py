"""Fixtures for the environment engine: real venvs, constructed tool layouts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernelswitch import _paths
from kernelswitch.envs import forget_walks, locators

PY = f"{sys.version_info.major}.{sys.version_info.minor}"

# Variables locators read: cleared so the machine's real tools stay out of the tests.
_TOOL_VARS = (
    "PYENV_ROOT",
    "WORKON_HOME",
    "CONDA_PREFIX",
    "CONDA_EXE",
    "CONDA_ROOT",
    "MAMBA_ROOT_PREFIX",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "POETRY_VIRTUALENVS_PATH",
    "HATCH_DATA_DIR",
    "UV_PYTHON_INSTALL_DIR",
    "VIRTUAL_ENV",
)


def make_venv(path: Path, *extra: str) -> Path:
    """A real venv made by ``python -m venv`` (no pip: fast, still a real venv)."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", *extra, str(path)],
        check=True,
        capture_output=True,
    )
    return path


@pytest.fixture(scope="session")
def ipykernel_venv() -> Path:
    """A real venv with ipykernel pip-installed, built once per Python version and
    kept in the user cache dir so re-runs take no time."""
    root = _paths.cache_dir() / "testenvs" / f"py{PY}-ipykernel"
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
        )
        assert pip.returncode == 0, f"pip install ipykernel failed:\n{pip.stderr}"
        done.write_text("ok\n")
    return root


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Cache in a tmp dir, a fake empty home, no tool variables, fresh walks."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("KERNELSWITCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(home))
    for var in _TOOL_VARS:
        monkeypatch.delenv(var, raising=False)
    forget_walks()
    monkeypatch.setattr(locators, "_plugins", None)
    monkeypatch.setattr(locators, "_plugin_errors", [])
    yield home
    forget_walks()


@pytest.fixture
def home(isolated: Path) -> Path:
    return isolated


def write(path: Path, text: str = "", mode: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mode is not None:
        os.chmod(path, mode)
    return path


def fake_prefix(
    root: Path,
    version: str,
    *,
    cfg: dict[str, str] | None = None,
    packages: tuple[str, ...] = (),
    windows: bool = False,
    conda: bool = False,
) -> Path:
    """A constructed environment tree (the layouts tools write, no interpreter run).

    The interpreter is an empty executable file: discovery never runs it.
    """
    mm = ".".join(version.split(".")[:2])
    if windows:
        exe = root / ("python.exe" if conda and not cfg else "Scripts/python.exe")
        site = root / "Lib" / "site-packages"
    else:
        exe = root / "bin" / "python"
        site = root / "lib" / f"python{mm}" / "site-packages"
    write(exe, "", 0o755)
    site.mkdir(parents=True, exist_ok=True)
    for p in packages:
        name, _, v = p.partition("==")
        (site / f"{name}-{v or '1.0'}.dist-info").mkdir()
        (site / name).mkdir()
    if cfg is not None:
        body = {"home": "/usr/bin", **cfg}
        write(root / "pyvenv.cfg", "".join(f"{k} = {v}\n" for k, v in body.items()))
    if conda:
        write(root / "conda-meta" / f"python-{version}-h12debd9_0.json", "{}")
        write(root / "conda-meta" / "history", "")
    return root
