"""`kernelswitch doctor` against the real host."""

from __future__ import annotations

import json
import subprocess
import sys


def _doctor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kernelswitch.cli", "doctor", *args],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_doctor_says_vms_can_run_and_names_the_accelerator() -> None:
    out = _doctor("--json")
    report = json.loads(out.stdout)
    assert out.returncode == 0, out.stdout + out.stderr
    assert report["vms_can_run"] is True
    checks = {c["name"]: c for c in report["checks"]}
    accel = checks["accelerator"]
    assert accel["ok"] and accel["data"]["accel"] in ("kvm", "tcg")
    assert accel["data"]["accel"].upper() in accel["detail"]
    assert checks["libvirt"]["ok"] and checks["QEMU"]["ok"]
    assert checks["osinfo database"]["data"]["os_count"] > 100


def test_doctor_human_output_and_failure_exit(tmp_path) -> None:
    ok = _doctor()
    assert ok.returncode == 0
    report = json.loads(_doctor("--json").stdout)
    checks = {c["name"]: c for c in report["checks"]}
    # TCG works but is slow: a warning, with what to expect and how to fix it
    expected = "[warn]" if checks["accelerator"]["data"]["accel"] == "tcg" else "[ok  ]"
    assert f"{expected} accelerator" in ok.stdout
    bad = _doctor("--uri", "qemu+unix:///session?socket=" + str(tmp_path / "nope"))
    assert bad.returncode == 1
    assert "[FAIL] libvirt" in bad.stdout
    assert "fix:" in bad.stdout


def test_doctor_warns_where_the_user_should_act() -> None:
    report = json.loads(_doctor("--json").stdout)
    checks = {c["name"]: c for c in report["checks"]}
    accel = checks["accelerator"]
    assert accel["status"] == ("warn" if accel["data"]["accel"] == "tcg" else "ok")
    if accel["status"] == "warn":
        assert "slow" in accel["fix"]
    db = checks["osinfo database"]
    old = db["data"]["age_days"] > 365
    assert db["status"] == ("warn" if old else "ok")
    assert bool(db["fix"]) == old
    # a warning never stops VMs from running
    assert report["vms_can_run"] is True
    human = _doctor().stdout
    assert ("[warn] osinfo database" in human) == old
