"""resolve(): every kind of input, and a precise error for every bad one."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from kernelswitch.envs import (
    BaseInterpreterGone,
    BrokenSymlink,
    EnvNotFound,
    EnvUnreadable,
    InvalidEnvConfig,
    NotAPython,
    _probe,
    resolve,
    server_python,
)
from kernelswitch.errors import KernelSwitchError

from .conftest import make_venv, write


def test_venv_by_folder_and_by_interpreter(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "v")
    spawns = _probe.spawn_count
    by_dir = resolve(str(venv))
    by_exe = resolve(str(venv / "bin" / "python"))
    assert _probe.spawn_count == spawns
    assert by_dir.prefix == by_exe.prefix == str(venv)
    assert by_dir.executable == str(venv / "bin" / "python")
    assert by_dir.version == server_python().version
    assert by_dir.version_source == "pyvenv.cfg"
    # a venv's python links into the base install: it stays the venv's
    assert os.path.islink(venv / "bin" / "python")
    assert by_exe.kind == "venv"


def test_relative_and_user_paths_are_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = make_venv(tmp_path / "v")
    monkeypatch.chdir(tmp_path)
    assert resolve("v").prefix == str(venv)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve("~/v/bin/python3").prefix == str(venv)


def test_symlinked_venv_is_not_realpathed(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "real")
    link = tmp_path / "link"
    link.symlink_to(venv, target_is_directory=True)
    rec = resolve(str(link / "bin" / "python"))
    assert rec.prefix == str(link)
    assert rec.executable == str(link / "bin" / "python")
    assert rec.kind == "venv"


def test_system() -> None:
    for target in ("system", ""):
        rec = resolve(target)
        assert rec.kind == "system"
        assert rec.executable and os.path.isabs(rec.executable)
        assert rec.version and rec.version.count(".") == 2


def test_bare_interpreter_is_run_once_and_cached(tmp_path: Path) -> None:
    exe = tmp_path / "bare" / "bin" / "python3"
    exe.parent.mkdir(parents=True)
    exe.symlink_to(sys.executable)
    spawns = _probe.spawn_count
    rec = resolve(str(exe))
    assert _probe.spawn_count == spawns + 1
    assert rec.version == server_python().version
    assert rec.version_source == "interpreter"
    assert rec.kind == "python" and rec.prefix == str(tmp_path / "bare")
    resolve(str(exe))
    assert _probe.spawn_count == spawns + 1


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(EnvNotFound, match="does not exist"):
        resolve(str(tmp_path / "nope"))
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "removed")
    with pytest.raises(BrokenSymlink, match=r"broken symlink.*removed"):
        resolve(str(dangling))
    with pytest.raises(NotAPython, match="not a Python interpreter"):
        resolve(str(write(tmp_path / "notes.txt", "hi")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotAPython, match="not a Python environment"):
        resolve(str(tmp_path / "empty"))
    fake = write(tmp_path / "fake" / "bin" / "python", "#!/bin/sh\necho nope >&2\nexit 3\n", 0o755)
    with pytest.raises(NotAPython, match=r"not a working Python interpreter.*nope"):
        resolve(str(fake))
    garbage = tmp_path / "garbage"
    write(garbage / "pyvenv.cfg").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InvalidEnvConfig, match="not text"):
        resolve(str(garbage))
    err = InvalidEnvConfig("x")
    assert isinstance(err, KernelSwitchError) and err.to_json()["error"]["code"]


def test_base_interpreter_gone(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "v")
    cfg = venv / "pyvenv.cfg"
    cfg.write_text("".join(
        f"home = {tmp_path / 'deleted' / 'bin'}\n" if ln.startswith("home") else ln + "\n"
        for ln in cfg.read_text().splitlines()))
    with pytest.raises(BaseInterpreterGone, match=r"base interpreter gone.*deleted"):
        resolve(str(venv))
    # the venv's python symlink dangles (its base was removed)
    other = tmp_path / "w"
    write(other / "pyvenv.cfg", "home = /usr/bin\nversion = 3.11.2\n")
    (other / "bin").mkdir()
    (other / "bin" / "python").symlink_to(tmp_path / "deleted" / "python3")
    with pytest.raises(BaseInterpreterGone, match="broken symlink"):
        resolve(str(other))
    with pytest.raises(BaseInterpreterGone):
        resolve(str(other / "bin" / "python"))


def test_unreadable(tmp_path: Path) -> None:
    """Checked without root's override, in a child process if we are root."""
    venv = make_venv(tmp_path / "v")
    os.chmod(venv / "pyvenv.cfg", 0)
    if os.geteuid() != 0:
        with pytest.raises(EnvUnreadable, match="permission denied"):
            resolve(str(venv))
        return
    from .test_cli import run_unprivileged

    out = run_unprivileged(["resolve", str(venv)])
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1
    assert "permission denied" in out.stderr and str(venv) in out.stderr
