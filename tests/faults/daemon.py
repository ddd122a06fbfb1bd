"""A throw-away libvirtd in a private mount namespace, for the fault tests.

The shared daemon (``qemu:///session`` as root) serves every engineer on the
machine: these tests kill libvirtd over and over, so they run their own. A
holder process (``private-libvirtd.sh`` under ``unshare --mount``) keeps a
namespace where ``/run/libvirt``, ``/var/lib/libvirt``, ``/var/cache/libvirt``,
``/etc/libvirt`` (a minimal config of ours) and ``/var/log/libvirt`` are bind
mounts of folders under a temporary root; each daemon is started into it with
``nsenter``. Its guests run as root with no relabelling (``dynamic_ownership =
0``), so no file the host's daemon uses changes owner, and without cgroups or
per-domain namespaces. Teardown kills every process in the namespace (the
daemon, its guests, the holder), whatever state a test left it in.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
SCRIPT = HERE / "private-libvirtd.sh"

LIBVIRTD_CONF = """\
# kernelswitch fault tests: a private daemon (see tests/faults/daemon.py)
auth_unix_ro = "none"
auth_unix_rw = "none"
unix_sock_rw_perms = "0700"
log_outputs = "3:stderr"
"""
QEMU_CONF = """\
# kernelswitch fault tests: guests as root, nothing relabelled, no cgroups,
# no virtlogd (its socket would be the host's): nothing the host daemon uses changes.
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
"""


def shared_daemon_pid() -> int | None:
    """The pid of the shared daemon (``/run/libvirtd.pid``, the host's own), if it runs.

    Only that one: other test sessions start and stop private daemons of
    their own (e.g. tests/vm/test_daemon_restart.py) while we run.
    """
    try:
        pid = int(Path("/run/libvirtd.pid").read_text().strip())
        if (Path(f"/proc/{pid}/comm")).read_text().strip() == "libvirtd":
            return pid
    except (OSError, ValueError):
        pass
    return None


class PrivateLibvirtd:
    """A libvirtd in its own mount namespace; ``kill()`` and ``start()`` at will."""

    def __init__(self, pool_tmpfs: str | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ks-private-libvirtd-", dir="/tmp"))
        self.root.chmod(0o755)
        for sub in ("run", "lib", "cache", "etc", "log/qemu", "pool"):
            (self.root / sub).mkdir(parents=True)
        (self.root / "pool").chmod(0o755)
        (self.root / "etc" / "libvirtd.conf").write_text(LIBVIRTD_CONF)
        (self.root / "etc" / "qemu.conf").write_text(QEMU_CONF)
        self.socket = self.root / "run" / "libvirt-sock"
        self.uri = f"qemu+unix:///session?socket={self.socket}"
        self.pool_dir = self.root / "pool"
        self.log = self.root / "libvirtd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        args = [str(SCRIPT), str(self.root)] + ([pool_tmpfs] if pool_tmpfs else [])
        self.holder = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        assert self.holder.stdout is not None
        line = self.holder.stdout.readline()
        if line.strip() != b"ready":
            err = self.holder.stderr.read() if self.holder.stderr else b""
            self.destroy()
            raise RuntimeError(f"private namespace did not come up: {line!r} {err!r}")
        self.ns = os.readlink(f"/proc/{self.holder.pid}/ns/mnt")

    # ------------------------------------------------------------ daemon

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def start(self, timeout: float = 30.0) -> None:
        import libvirt

        self.socket.unlink(missing_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                ["nsenter", f"--target={self.holder.pid}", "--mount", "libvirtd",
                 "--pid-file", str(self.root / "libvirtd.pid")],
                stdout=log, stderr=log, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"private libvirtd exited: {self.log.read_text()[-2000:]}")
            if self.socket.exists():
                try:
                    libvirt.open(self.uri).close()
                    return
                except libvirt.libvirtError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"private libvirtd did not answer on {self.socket}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the daemon (its guests keep running, as after a crash)."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)

    def define_pool(self, name: str = "kernelswitch") -> None:
        """Our pool, in the namespace's pool folder (before the server makes one elsewhere)."""
        import libvirt

        conn = libvirt.open(self.uri)
        try:
            pool = conn.storagePoolDefineXML(
                f"<pool type='dir'><name>{name}</name><target><path>{self.pool_dir}"
                "</path></target></pool>", 0
            )  # fmt: skip
            pool.create(0)
        finally:
            conn.close()

    def in_ns(self, *argv: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        """Run a command in the namespace (e.g. to fill the pool's tmpfs)."""
        return subprocess.run(
            ["nsenter", f"--target={self.holder.pid}", "--mount", *argv],
            capture_output=True, text=True, timeout=60, **kw,
        )  # fmt: skip

    # ------------------------------------------------------------ teardown

    def _ns_pids(self) -> list[int]:
        pids = []
        for p in Path("/proc").iterdir():
            if p.name.isdigit():
                with contextlib.suppress(OSError):
                    if os.readlink(p / "ns/mnt") == self.ns:
                        pids.append(int(p.name))
        return pids

    def destroy(self) -> None:
        """Kill everything in the namespace (daemon, guests, holder) and remove the root."""
        ns = getattr(self, "ns", None)
        if ns is not None:
            for _ in range(50):
                pids = self._ns_pids()
                if not pids:
                    break
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.1)
        for proc in (self.proc, self.holder):
            if proc is not None:
                with contextlib.suppress(Exception):
                    proc.kill()
                    proc.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)
