"""`kernelswitch envs | resolve | compare` through the real argparse wiring."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from kernelswitch.cli.envs import main

from .conftest import make_venv, write


def run_unprivileged(args: list[str], cache: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI as root without the permission-override capabilities, so that
    unreadable files really are unreadable (setpriv is part of util-linux)."""
    cmd = [sys.executable, "-m", "kernelswitch.cli.envs", *args]
    if os.geteuid() == 0:
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *cmd]
    env = dict(os.environ)
    if cache:
        env["KERNELSWITCH_CACHE"] = cache
    return subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)


def test_envs_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    venv = make_venv(tmp_path / "proj" / ".venv")
    assert main(["envs", "--root", str(tmp_path / "proj")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["KIND", "NAME", "PYTHON", "IPYKERNEL", "MODE", "PREFIX"]
    assert str(venv) in out and "proj/.venv" in out
    assert main(["envs", "--root", str(tmp_path / "proj"), "--json", "--packages", "--depth",
                 "2", "--refresh"]) == 0
    data = json.loads(capsys.readouterr().out)
    rec = next(e for e in data["envs"] if e["prefix"] == str(venv))
    assert rec["kind"] == "venv" and rec["version_source"] == "pyvenv.cfg"
    assert rec["packages"] == {}
    assert data["partial"] is False


@pytest.mark.parametrize(
    ("argv", "code", "needle"),
    [
        (["envs", "--depth", "x"], 2, "--depth must be a number"),
        (["envs", "--depth", "-1"], 2, "must not be negative"),
        (["envs", "--root", "/no/such/dir"], 2, "no such directory"),
        (["resolve", "/no/such/python"], 1, "does not exist"),
        (["compare", "system", "/no/such/env"], 1, "does not exist"),
    ],
)
def test_bad_input_one_line(
    argv: list[str], code: int, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err and err.startswith("kernelswitch: error:")


def test_resolve_and_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    venv = make_venv(tmp_path / "v")
    assert main(["resolve", str(venv / "bin" / "python"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["prefix"] == str(venv)
    assert main(["resolve", str(venv)]) == 0
    assert f"prefix: {venv}" in capsys.readouterr().out
    nb = tmp_path / "nb.ipynb"
    nb.write_text(json.dumps({"cells": [{"cell_type": "code",
                                         "source": "import numpy\nimport nosuchmod_xyz\n"}]}))
    assert main(["compare", "system", str(venv), "--notebook", str(nb), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["mode"] == "overlay"
    # overlay mode brings the server's numpy: from the server, not a break (issue 16)
    assert data["unsatisfied_imports"] == ["nosuchmod_xyz"]
    assert data["imports_from_server"] == ["numpy"]
    assert main(["compare", str(venv), str(venv), "--notebook", str(nb)]) == 0
    out = capsys.readouterr().out
    assert "mode:     overlay" in out and "cannot import: nosuchmod_xyz" in out
    assert "from the server (overlay): numpy" in out


def test_unreadable_directory_is_reported_and_scan_goes_on() -> None:
    # outside pytest's private tmp tree, which other users cannot enter
    with tempfile.TemporaryDirectory(prefix="ks-unreadable-") as d:
        root = Path(d)
        os.chmod(root, 0o755)
        ok = make_venv(root / "ok")
        locked = root / "locked"
        make_venv(locked / "inside")
        os.chmod(locked, 0)
        try:
            out = run_unprivileged(["envs", "--root", str(root), "--json"],
                                   cache=str(root / "cache"))
        finally:
            os.chmod(locked, 0o755)
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        assert str(ok) in [e["prefix"] for e in data["envs"]]
        assert str(locked / "inside") not in [e["prefix"] for e in data["envs"]]
        assert any(e["path"] == str(locked) and "ermission denied" in e["message"]
                   for e in data["errors"])


def test_garbage_and_good_side_by_side_in_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = make_venv(tmp_path / "good")
    bad = write(tmp_path / "bad" / "pyvenv.cfg", "no equals here\n").parent
    assert main(["envs", "--root", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()

    def row(prefix: Path) -> list[str]:
        return next(ln.split() for ln in lines if ln.endswith(str(prefix)))

    # KIND NAME PYTHON IPYKERNEL MODE PREFIX
    assert row(good)[:2] == ["venv", "good"] and row(good)[4] == "overlay"
    assert row(bad)[1] == "bad" and row(bad)[4] == "incompatible"  # the API's word
    assert any(ln.startswith(f"! {bad}: ") and "no 'home' key" in ln for ln in lines)


def test_align_shows_the_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = make_venv(tmp_path / "t")  # overlay: the running Python's packages come along
    nb = tmp_path / "nb.ipynb"
    nb.write_text(json.dumps({"cells": [{"cell_type": "code",
                                         "source": "import pytest\nimport nosuchmod_q\n"}]}))
    assert main(["align", sys.executable, str(target), "--notebook", str(nb), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["installs"] == [] and plan["unmapped"] == ["nosuchmod_q"], plan
    assert main(["align", sys.executable, str(target), "--notebook", str(nb)]) == 0
    out = capsys.readouterr().out
    assert "provides: nosuchmod_q" in out and "nothing to install" in out
