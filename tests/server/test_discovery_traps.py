"""Issue 11: an environment scan never blocks on a file and never makes others wait.

Anyone who can write into a scanned folder can plant a FIFO or a device node
where discovery looks for ``pyvenv.cfg`` or ``patchlevel.h``. Real FIFOs, real
device nodes, a real 10 GB sparse file, a real jupyter_server.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.jp import ks_server_config

pytestmark = pytest.mark.server

PY = f"python{sys.version_info.major}.{sys.version_info.minor}"


def _venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    return path


def _trap_env(path: Path) -> Path:
    """A venv config without a version whose base install is the folder itself:
    discovery then reads the base's include/pythonX.Y/patchlevel.h for the version."""
    (path / "include" / PY).mkdir(parents=True)
    (path / "bin").mkdir()
    (path / "pyvenv.cfg").write_text(f"home = {path / 'bin'}\n")
    return path / "include" / PY / "patchlevel.h"


@pytest.fixture
def traps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    # outside pytest's 0700 temp tree, so an unprivileged scan can enter the root
    with tempfile.TemporaryDirectory(prefix="ks-traps-") as d:
        root = Path(d)
        os.chmod(root, 0o755)
        good = _venv(root / "good")
        fifo_env = root / "fifo-header"
        os.mkfifo(_trap_env(fifo_env))
        dev_env = root / "dev-header"
        os.mknod(_trap_env(dev_env), 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero
        fifo_cfg = root / "fifo-cfg"
        fifo_cfg.mkdir()
        os.mkfifo(fifo_cfg / "pyvenv.cfg")
        dev_cfg = root / "dev-cfg"
        dev_cfg.mkdir()
        os.mknod(dev_cfg / "pyvenv.cfg", 0o600 | stat.S_IFCHR, os.makedev(1, 5))
        sparse = root / "sparse"
        sparse.mkdir()
        with open(sparse / "pyvenv.cfg", "wb") as f:
            f.truncate(10 * 1024**3)
        locked = root / "locked"
        _venv(locked / "inside")
        os.chmod(locked, 0)
        conda = root / "home" / ".conda"  # a FIFO where conda keeps its env list
        conda.mkdir(parents=True)
        os.mkfifo(conda / "environments.txt")
        try:
            yield {
                "root": root, "good": good, "fifo_env": fifo_env, "dev_env": dev_env,
                "fifo_cfg": fifo_cfg, "dev_cfg": dev_cfg, "sparse": sparse,
                "locked": locked, "home": root / "home",
            }  # fmt: skip
        finally:
            os.chmod(locked, 0o755)


def test_unprivileged_scan_of_traps_finishes_within_its_deadline(traps: dict[str, Path]) -> None:
    """As a user who really cannot read the locked folder (root without DAC override).

    ``partial`` false is the proof: the scan stops and says so at its deadline.
    """
    cmd = [sys.executable, "-m", "kernelswitch.cli.envs", "envs", "--root", str(traps["root"]),
           "--depth", "4", "--refresh", "--json"]  # fmt: skip
    if os.geteuid() == 0:
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *cmd]
    env = {**os.environ, "KERNELSWITCH_CACHE": str(traps["root"] / "cache"),
           "HOME": str(traps["home"])}  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["partial"] is False and data["reason"] is None
    envs = {e["prefix"]: e for e in data["envs"]}
    assert envs[str(traps["good"])]["error"] is None
    for key in ("fifo_cfg", "dev_cfg"):
        assert "not a regular file" in envs[str(traps[key])]["error"]
    assert "no 'home' key" in envs[str(traps["sparse"])]["error"]
    for key in ("fifo_env", "dev_env"):  # listed; the planted header is simply not read
        assert str(traps[key]) in envs
    assert any(
        e["path"] == str(traps["locked"]) and "ermission denied" in e["message"]
        for e in data["errors"]
    )


@pytest.fixture
def jp_server_config(traps: dict[str, Path]) -> dict:
    return ks_server_config(libvirt_uris=["test:///default"], env_roots=[str(traps["root"])],
                            env_depth=4)  # fmt: skip


async def _get(jp_fetch: Any, *path: str, **params: str) -> tuple[dict, float]:
    t0 = time.monotonic()
    resp = await jp_fetch("kernelswitch", "api", *path, params=params or None)
    return json.loads(resp.body), time.monotonic() - t0


async def test_fifo_header_does_not_hang_refresh_or_anyone_after(
    jp_fetch: Any, traps: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from kernelswitch.envs import DEFAULT_BUDGET
    from kernelswitch.server.envs_handlers import GRACE

    monkeypatch.setenv("HOME", str(traps["home"]))
    body, seconds = await _get(jp_fetch, "envs", refresh="1")
    assert seconds < DEFAULT_BUDGET + GRACE and body["partial"] is False
    prefixes = [e["prefix"] for e in body["envs"]]
    assert str(traps["fifo_env"]) in prefixes and str(traps["good"]) in prefixes
    # everyone after answers too: the env list again, and the VM list
    again, _ = await _get(jp_fetch, "envs")
    assert [e["prefix"] for e in again["envs"]] == prefixes
    vms, _ = await _get(jp_fetch, "vms")
    assert [v["name"] for v in vms["vms"]] == ["test"]


async def test_scan_never_waits_on_a_held_cache_lock(jp_fetch: Any) -> None:
    """While something else (a resolve running an interpreter) holds the env cache,
    GET envs answers partial with the reason within its budget, and VMs still answer."""
    from kernelswitch.envs import DEFAULT_BUDGET, _probe
    from kernelswitch.server.envs_handlers import GRACE

    first, _ = await _get(jp_fetch, "envs", refresh="1")
    assert first["partial"] is False
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with _probe.lock:
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        envs_call = asyncio.ensure_future(_get(jp_fetch, "envs", refresh="1"))
        vms, vm_seconds = await _get(jp_fetch, "vms")
        assert vm_seconds < 1.0 and vms["vms"]
        body, seconds = await envs_call
    finally:
        release.set()
        holder.join(30)
    assert seconds < DEFAULT_BUDGET + GRACE
    assert body["partial"] is True and "held the environment cache" in body["reason"]
    assert [e["prefix"] for e in body["envs"]] == [e["prefix"] for e in first["envs"]]


HUNG_PLUGIN = '''
from kernelswitch.envs.locators import Locator

FIFO = {fifo!r}


class Hung(Locator):
    """A plugin stuck on storage that never answers (here: a FIFO nobody writes)."""

    kind = "hung"
    priority = 1

    def locations(self):
        with open(FIFO, "rb") as f:
            f.read()
        return []
'''


def test_a_stuck_scan_answers_partial_in_time_and_blocks_no_one(tmp_path: Path) -> None:
    """A scan thread that does not return: every GET envs still answers within the
    budget plus grace (the last list, partial, with the reason), VM requests do
    not notice, and once the stuck read ends the list is whole again."""
    from support.api import call
    from support.jupyter import jupyter_server

    from kernelswitch.envs import DEFAULT_BUDGET, ENTRY_POINT_GROUP
    from kernelswitch.server.envs_handlers import GRACE

    site = tmp_path / "site"
    dist = site / "ks_hung-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ks-hung\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nhung = ks_hung:Hung\n")
    fifo = tmp_path / "never-written"
    os.mkfifo(fifo)
    (site / "ks_hung.py").write_text(HUNG_PLUGIN.format(fifo=str(fifo)))
    roots = tmp_path / "roots"
    _venv(roots / "one")
    env = {"PYTHONPATH": str(site), "KERNELSWITCH_CACHE": str(tmp_path / "cache")}
    args = [
        f"--KernelSwitchApp.env_roots={roots}",
        "--KernelSwitchApp.libvirt_uris=test:///default",
    ]
    with jupyter_server(tmp_path, env=env, extra_args=args) as server:
        try:
            first = call(server, "GET", "envs?refresh=1")
            again = call(server, "GET", "envs")
            vms = call(server, "GET", "vms")
        finally:
            with open(fifo, "wb"):  # a writer comes and goes: the stuck read ends
                pass
        for answer in (first, again):
            assert answer.status == 200 and answer.seconds < DEFAULT_BUDGET + GRACE + 1
            assert answer.body["partial"] is True and "did not finish" in answer.body["reason"]
        assert vms.status == 200 and vms.seconds < 1.0
        deadline = time.monotonic() + 30
        while True:  # the released scan completes; then the list is whole again
            done = call(server, "GET", "envs")
            if not done.body["partial"] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert done.body["partial"] is False
        assert str(roots / "one") in [e["prefix"] for e in done.body["envs"]]
