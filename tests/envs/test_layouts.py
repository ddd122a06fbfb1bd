"""Each tool's layout, constructed as the tool writes it, is found and classified."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelswitch.envs import EnvRecord, discover, resolve

from .conftest import fake_prefix, write


def find(envs: list[EnvRecord], prefix: Path) -> EnvRecord:
    matches = [e for e in envs if e.prefix == str(prefix)]
    assert len(matches) == 1, [(e.kind, e.prefix) for e in envs]
    return matches[0]


def test_conda_envs_from_environments_txt_and_walk(home: Path, tmp_path: Path) -> None:
    base = fake_prefix(tmp_path / "opt" / "miniconda3", "3.10.4", conda=True)
    (base / "condabin").mkdir()
    sci = fake_prefix(base / "envs" / "sci", "3.9.12", conda=True, packages=("ipykernel",))
    outside = fake_prefix(tmp_path / "far" / "away", "3.12.1", conda=True)
    write(home / ".conda" / "environments.txt", f"{base}\n{sci}\n{outside}\n/does/not/exist\n")
    envs = discover(roots=[home]).envs
    b, s, o = find(envs, base), find(envs, sci), find(envs, outside)
    assert (b.kind, b.name, b.version, b.version_source) == (
        "conda", "base", "3.10.4", "conda-meta")
    assert (s.kind, s.name, s.version, s.has_ipykernel, s.mode) == (
        "conda", "sci", "3.9.12", True, "native")
    assert o.name == "away"
    # found by the walk alone (not listed anywhere): still conda, envs/ descended
    (home / ".conda" / "environments.txt").unlink()
    envs = discover(roots=[tmp_path / "opt"], refresh=True).envs
    assert find(envs, sci).kind == "conda" and find(envs, base).name == "base"


def test_pyenv_versions_and_pyenv_virtualenv(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "pyenv"
    monkeypatch.setenv("PYENV_ROOT", str(root))
    v = fake_prefix(root / "versions" / "3.9.7", "3.9.7")
    venv = fake_prefix(v / "envs" / "tools", "3.9.7", cfg={"home": str(v / "bin"),
                                                           "version": "3.9.7"})
    (root / "versions" / "tools").symlink_to(venv, target_is_directory=True)
    nover = fake_prefix(root / "versions" / "system-build", "3.8.1")
    write(nover / "include" / "python3.8" / "patchlevel.h", '#define PY_VERSION "3.8.1+"\n')
    envs = discover(roots=[home]).envs
    rv = find(envs, v)
    assert (rv.kind, rv.name, rv.version, rv.version_source) == (
        "pyenv", "3.9.7", "3.9.7", "directory-name")
    rt = find(envs, venv)
    assert (rt.kind, rt.name) == ("pyenv-virtualenv", "tools")
    assert str(root / "versions" / "tools") not in [e.prefix for e in envs]
    rn = find(envs, nover)
    assert (rn.version, rn.version_source) == ("3.8.1", "patchlevel.h")


def test_uv_project_venv_and_managed_python(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proj = fake_prefix(home / "proj" / ".venv", "3.12.1",
                       cfg={"implementation": "CPython", "uv": "0.4.18", "version_info": "3.12.1"})
    managed_dir = tmp_path / "uvpy"
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(managed_dir))
    managed = fake_prefix(managed_dir / "cpython-3.12.1-linux-x86_64-gnu", "3.12.1")
    envs = discover(roots=[home]).envs
    p = find(envs, proj)
    assert (p.kind, p.name, p.version, p.version_source) == ("uv", "proj/.venv", "3.12.1",
                                                             "pyvenv.cfg")
    m = find(envs, managed)
    assert (m.kind, m.version, m.version_source) == ("uv", "3.12.1", "directory-name")


def test_virtualenv_tool_and_version_info(home: Path) -> None:
    v = fake_prefix(home / "ve", "3.11.4",
                    cfg={"virtualenv": "20.24.5", "version_info": "3.11.4.final.0"})
    r = find(discover(roots=[home]).envs, v)
    assert (r.kind, r.version) == ("virtualenv", "3.11.4")


def test_poetry_pipenv_hatch_virtualenvwrapper(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = {"version": "3.11.4", "virtualenv": "20.24.5"}
    poetry = fake_prefix(home / ".cache" / "pypoetry" / "virtualenvs" / "demo-AbCdEf12-py3.11",
                         "3.11.4", cfg=cfg)
    write(home / "app" / "poetry.lock")
    poetry_inproj = fake_prefix(home / "app" / ".venv", "3.11.4", cfg=cfg)
    pipenv = fake_prefix(home / ".local" / "share" / "virtualenvs" / "web-Zx9_Yw3Q", "3.11.4",
                         cfg=cfg)
    write(pipenv / ".project", str(home / "web"))
    write(home / "site" / "Pipfile")
    pipenv_inproj = fake_prefix(home / "site" / ".venv", "3.11.4", cfg=cfg)
    hatch = fake_prefix(home / ".local" / "share" / "hatch" / "env" / "virtual" / "proj" / "Xy12"
                        / "default", "3.11.4", cfg=cfg)
    workon = tmp_path / "workon"
    monkeypatch.setenv("WORKON_HOME", str(workon))
    wrapper = fake_prefix(workon / "scratch", "3.11.4", cfg=cfg)
    envs = discover(roots=[home]).envs
    assert find(envs, poetry).kind == "poetry"
    assert find(envs, poetry).name == "demo-AbCdEf12-py3.11"
    assert find(envs, poetry_inproj).kind == "poetry"
    assert find(envs, pipenv).kind == "pipenv"
    assert find(envs, pipenv_inproj).kind == "pipenv"
    assert find(envs, hatch).kind == "hatch"
    assert find(envs, wrapper).kind == "virtualenvwrapper"
    assert find(envs, wrapper).name == "scratch"


def test_windows_layouts_discover_and_resolve(home: Path) -> None:
    venv = fake_prefix(home / "winvenv", "3.11.4", cfg={"version": "3.11.4"}, windows=True,
                       packages=("ipykernel",))
    conda = fake_prefix(home / "Miniconda3", "3.10.9", conda=True, windows=True)
    envs = discover(roots=[home]).envs
    rv = find(envs, venv)
    assert rv.executable == str(venv / "Scripts" / "python.exe")
    assert rv.has_ipykernel and rv.mode == "native"
    rc = find(envs, conda)
    assert rc.executable == str(conda / "python.exe") and rc.version == "3.10.9"
    r = resolve(str(venv / "Scripts" / "python.exe"))
    assert (r.prefix, r.kind, r.version) == (str(venv), "venv", "3.11.4")
    r = resolve(str(conda / "python.exe"))
    assert (r.prefix, r.kind, r.version) == (str(conda), "conda", "3.10.9")


def test_system_interpreters(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    usr = tmp_path / "usr"
    exe = fake_prefix(usr, "3.10.12") / "bin" / "python"
    exe.rename(usr / "bin" / "python3.10")
    (usr / "bin" / "python3").symlink_to("python3.10")
    write(usr / "bin" / "python3-config", "", 0o755)
    shims = tmp_path / "pyenv" / "shims"
    write(shims / "python3", "#!/bin/sh\n", 0o755)
    monkeypatch.setenv("PATH", f"{shims}:{usr / 'bin'}")
    envs = [e for e in discover(roots=[tmp_path / "nothing-here"]).envs if e.prefix == str(usr)]
    assert len(envs) == 1  # python3 and python3.10 are one interpreter; -config and shims skipped
    assert envs[0].kind == "system"
    assert envs[0].version == "3.10"
    assert envs[0].version_source in ("lib-dir", "executable-name")
