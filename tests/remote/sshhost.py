"""A throwaway "remote" libvirt host on this machine: a private sshd + a user's session daemon.

Why this shape: as root, ``qemu+ssh://root@host/session`` is the system daemon
(DESIGN, remote libvirt), so a second, really separate daemon on one machine is
a non-root user's session daemon, reached through an sshd of our own on
127.0.0.1 at a high port with throwaway host and client keys. Nothing here
touches the system sshd or /etc/ssh: the daemon has its own sshd_config, host
key, authorized keys and pid file in a temp folder, and is stopped by its pid.
"""

from __future__ import annotations

import os
import pwd
import signal
import socket
import subprocess
import time
from pathlib import Path

USER = "ksremote"
SSHD = "/usr/sbin/sshd"


def ensure_user(user: str = USER) -> pwd.struct_passwd:
    """The non-root user whose session daemon is the remote host (made once, idempotent)."""
    try:
        return pwd.getpwnam(user)
    except KeyError:
        subprocess.run(["useradd", "-m", "-s", "/bin/sh", user], check=True)
    # useradd leaves the account locked ("!"), which sshd refuses even for keys
    subprocess.run(["usermod", "-p", "*", user], check=True)
    return pwd.getpwnam(user)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SSHHost:
    """An sshd on 127.0.0.1:*port* letting only *user* in with one throwaway key."""

    def __init__(self, folder: Path, user: str = USER, port: int | None = None) -> None:
        self.folder = folder
        self.user = user
        self.port = port or free_port()
        self.host_key = folder / "ssh_host_ed25519_key"
        self.client_key = folder / "client_key"
        self.known_hosts = folder / "known_hosts"
        self.config = folder / "sshd_config"
        self.proc: subprocess.Popen[bytes] | None = None

    def prepare(self) -> None:
        ensure_user(self.user)
        self.folder.mkdir(parents=True, exist_ok=True)
        for key in (self.host_key, self.client_key):
            if not key.exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                               check=True)  # fmt: skip
        # sshd reads authorized keys as the user: a folder of ours it may read
        auth = self.folder / "auth"
        auth.mkdir(exist_ok=True)
        auth.chmod(0o755)
        self.folder.chmod(0o755)
        (auth / "authorized_keys").write_text(self.client_key.with_suffix(".pub").read_text())
        (auth / "authorized_keys").chmod(0o644)
        host_pub = Path(str(self.host_key) + ".pub").read_text().split()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        self.config.write_text(
            "\n".join([
                f"Port {self.port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {self.host_key}",
                f"PidFile {self.folder / 'sshd.pid'}",
                f"AuthorizedKeysFile {auth / 'authorized_keys'}",
                f"AllowUsers {self.user}",
                "PermitRootLogin no",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "AllowStreamLocalForwarding yes",  # consoles (AllowTcpForwarding no denies it)
                "X11Forwarding no",
                "PrintMotd no",
                "LogLevel ERROR",
                "",
            ])
        )  # fmt: skip

    def start(self, timeout: float = 10.0) -> None:
        """Run the sshd (foreground, our child) until its port answers."""
        if self.proc is not None and self.proc.poll() is None:
            return
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation dir
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.folder / "sshd.log", "ab"),  # the child keeps it
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = (self.folder / "sshd.log").read_text(errors="replace")
                raise RuntimeError(f"sshd exited ({self.proc.returncode}): {log[-800:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"sshd did not listen on 127.0.0.1:{self.port} in {timeout} s")

    def stop(self) -> None:
        """Stop the listener *and* the sessions it forked (the live libvirt link dies too)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # per-connection sshd children outlive the listener: end those of our port
        _terminate(self._session_pids())
        self.proc = None

    def _session_pids(self) -> list[int]:
        """sshd processes serving *user* (their parent was our listener)."""
        out = []
        uid = pwd.getpwnam(self.user).pw_uid
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
                status = (entry / "status").read_text()
            except OSError:
                continue
            if not cmd or not cmd[0].startswith(b"sshd:"):
                continue
            uids = [ln for ln in status.splitlines() if ln.startswith("Uid:")]
            users = {int(u) for u in uids[0].split()[1:]} if uids else set()
            if cmd[0].startswith(f"sshd: {self.user}".encode()) or uid in users:
                out.append(int(entry.name))
        return out

    def uri(self, path: str = "session") -> str:
        return (
            f"qemu+ssh://{self.user}@127.0.0.1:{self.port}/{path}"
            f"?keyfile={self.client_key}&known_hosts={self.known_hosts}&no_tty=1"
        )


def user_daemon_pids(user: str = USER) -> list[int]:
    """The user's session libvirtd/virtlogd (started on demand by virt-ssh-helper)."""
    uid = pwd.getpwnam(user).pw_uid
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            owner = entry.stat().st_uid
        except OSError:
            continue
        if owner == uid and comm in ("libvirtd", "virtlogd", "virtqemud", "virt-ssh-helper"):
            out.append(int(entry.name))
    return out


def kill_user_daemons(user: str = USER) -> None:
    """End the user's session daemons by pid (they would otherwise linger 120 s)."""
    _terminate(user_daemon_pids(user))


def _terminate(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass  # ended meanwhile
