"""Fixtures for the environment engine: real venvs, constructed tool layouts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.venvs import PY, make_venv

from kernelswitch.envs import forget_walks, locators

__all__ = ["PY", "make_venv"]

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
