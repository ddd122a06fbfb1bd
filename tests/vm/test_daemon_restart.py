"""libvirtd restarted while the server runs: the next call works without a server restart.

The shared daemon is not ours to stop (other work runs against it), so this
test starts its own: an unprivileged ``libvirtd`` (user ``nobody``, session
mode, private runtime dir) that it may stop and start at will. The server is
pointed at it through ``KernelSwitchApp.libvirt_uris``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.vm, pytest.mark.server]

NOBODY = 65534


class PrivateDaemon:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.run_dir = root / "run"
        self.socket = self.run_dir / "libvirt" / "libvirt-sock"
        self.pidfile = self.run_dir / "libvirtd.pid"
        self.uri = f"qemu+unix:///session?socket={self.socket}"
        self.pid: int | None = None

    def start(self) -> None:
        env = {
            "HOME": str(self.root / "home"),
            "XDG_RUNTIME_DIR": str(self.run_dir),
            "PATH": "/usr/sbin:/usr/bin:/bin",
        }
        subprocess.run(
            ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
             "libvirtd", "--daemon", "--pid-file", str(self.pidfile)],
            env=env, check=True, timeout=30,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not (self.socket.exists() and self.pidfile.exists()):
            if time.monotonic() > deadline:
                pytest.fail(f"private libvirtd did not create {self.socket}")
            time.sleep(0.1)
        self.pid = int(self.pidfile.read_text().strip())

    def stop(self) -> None:
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 30
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)
        self.socket.unlink(missing_ok=True)
        self.pidfile.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def private_daemon() -> Iterator[PrivateDaemon]:
    if shutil.which("libvirtd") is None and not os.path.exists("/usr/sbin/libvirtd"):
        pytest.fail("libvirtd is missing: apt-get install libvirt-daemon-system")
    if os.geteuid() != 0:
        pytest.fail("this test starts a libvirtd as user nobody and needs root")
    # Not under pytest's 0700 temp root: user nobody must reach it.
    root = Path(tempfile.mkdtemp(prefix="ks-libvirtd-", dir="/tmp"))
    (root / "home").mkdir()
    (root / "run").mkdir()
    for p in (root, root / "home", root / "run"):
        os.chown(p, NOBODY, NOBODY)
    root.chmod(0o755)
    daemon = PrivateDaemon(root)
    daemon.start()
    yield daemon
    daemon.stop()
    from kernelswitch.vm.connection import get_connection

    get_connection(daemon.uri).close()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def jp_server_config(private_daemon: PrivateDaemon) -> dict:
    return {
        "ServerApp": {"jpserver_extensions": {"kernelswitch": True}},
        "KernelSwitchApp": {"libvirt_uris": [private_daemon.uri]},
    }


async def test_server_survives_libvirtd_restart(
    jp_fetch: Any, private_daemon: PrivateDaemon
) -> None:
    from kernelswitch.vm.connection import get_connection

    events: list[Any] = []
    conn = get_connection(private_daemon.uri)
    remove = conn.add_listener(events.append)
    try:
        resp = await jp_fetch("kernelswitch", "api", "vms")
        body = json.loads(resp.body)
        assert body["vms"] == [] and [h["state"] for h in body["hosts"]] == ["up"]

        private_daemon.stop()
        private_daemon.start()

        resp = await jp_fetch("kernelswitch", "api", "vms")  # no server restart
        body = json.loads(resp.body)
        assert resp.code == 200 and body["vms"] == [], body
        assert [h["state"] for h in body["hosts"]] == ["up"], body
        deadline = time.monotonic() + 30
        while not any(e.event == "restored" for e in events) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        kinds = [e.event for e in events if e.kind == "connection"]
        assert "lost" in kinds and "restored" in kinds, events
    finally:
        remove()
