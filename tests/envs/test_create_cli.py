"""``kernelswitch create``: a real venv from the system Python with a
requirements file and ipykernel (no server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kernelswitch.cli import main
from kernelswitch.envs import resolve


def test_create_from_requirements(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("six==1.16.0\n")
    new = tmp_path / "env"
    assert main(["create", str(new), "--python", "/usr/bin/python3", "--packages", str(req),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["env"]["prefix"] == str(new) and out["env"]["mode"] == "native"
    rec = resolve(str(new))
    assert rec.packages["six"] == "1.16.0" and rec.has_ipykernel
    assert rec.version and rec.version.startswith("3.11")
    # a folder that is not empty is refused, and left as it was
    before = sorted(p.name for p in new.iterdir())
    assert main(["create", str(new), "--dry-run"]) == 1
    assert "not empty" in capsys.readouterr().err
    assert sorted(p.name for p in new.iterdir()) == before


def test_choose_an_interpreter() -> None:
    from kernelswitch.envs import EnvNotFound
    from kernelswitch.envs._interpreters import Interpreter, choose

    found = [Interpreter("/p/3.12.1", "3.12.1", "pyenv"), Interpreter("/p/3.1.5", "3.1.5", "pyenv"),
             Interpreter("/usr/bin/python3", "3.12.3", "system"),
             Interpreter("/b/3.11", "3.11.2", "base")]
    assert choose("3.12", found).executable == "/usr/bin/python3"  # the newest 3.12
    assert choose("3.12.1", found).executable == "/p/3.12.1"
    assert choose("3.1", found).executable == "/p/3.1.5"  # never 3.12
    assert choose("python3.11", found).executable == "/b/3.11"
    assert choose(None, found, "3.11.9").executable == "/b/3.11"  # the current env's
    with pytest.raises(EnvNotFound, match=r"no Python 3.9 .*found: 3.1.5, 3.11.2, 3.12.1"):
        choose("3.9", found)
    with pytest.raises(Exception, match="neither a version"):
        choose("latest", found)
