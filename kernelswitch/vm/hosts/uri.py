"""What a libvirt URI says about its host: local or over SSH, key file, pinned known_hosts.

Public API (stable):

- :class:`HostURI` ``.parse(uri)``: ``remote``, ``user``, ``host``, ``port``,
  ``keyfile``, ``known_hosts``, ``alias``; :func:`is_remote`.
- :func:`check_uri` — refuses what must never be configured (``no_verify=1``,
  an SSH URI with no pinned known_hosts), with the fix.
- :func:`open_uri` — the URI handed to ``libvirt.open``: for ``qemu+ssh`` it
  names a tiny ``ssh`` wrapper (the ``command=`` parameter) that pins the host
  key and bounds the connect time.
- :data:`KNOWN_HOSTS` — the process-wide default known_hosts (set from
  ``KernelSwitchApp.ssh_known_hosts``).

Why a wrapper: libvirt 9.0's ``qemu+ssh`` transport runs the OpenSSH binary
and passes it ``-i keyfile`` and BatchMode, but ignores ``known_hosts=``
(only its libssh transports read it; checked here: the host key was refused
from root's own known_hosts), and ``no_verify=1`` writes to known_hosts,
i.e. accepts any key. So every SSH URI is opened with ``command=`` pointing at
``ssh -o UserKnownHostsFile=<pinned> -o StrictHostKeyChecking=yes``: a host
whose key is not in that file is refused, never learned. ``ConnectTimeout``
keeps a dead host from holding an open for the kernel's TCP timeout.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shlex
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import HostError

#: Default known_hosts for SSH URIs without ``known_hosts=`` (KernelSwitchApp.ssh_known_hosts).
KNOWN_HOSTS: list[str] = [str(Path.home() / ".ssh" / "known_hosts")]
#: Seconds ssh may take to reach a host before the open fails.
CONNECT_TIMEOUT = 5
SSH_BINARY = "ssh"


def set_known_hosts(path: str) -> None:
    KNOWN_HOSTS[0] = os.path.abspath(os.path.expanduser(path))


@dataclasses.dataclass(frozen=True)
class HostURI:
    uri: str
    scheme: str
    transport: str  # "" (local unix socket), "ssh", "libssh", "tcp", "tls", ...
    user: str | None
    host: str | None
    port: int | None
    path: str
    params: dict[str, str]

    @classmethod
    def parse(cls, uri: str) -> HostURI:
        parts = urlsplit(uri)
        driver, _, transport = parts.scheme.partition("+")
        if parts.hostname and not transport:
            transport = "tls"  # libvirt's default for a URI naming a host
        return cls(
            uri=uri, scheme=driver, transport=transport, user=parts.username,
            host=parts.hostname, port=parts.port, path=parts.path,
            params=dict(parse_qsl(parts.query, keep_blank_values=True)),
        )  # fmt: skip

    @property
    def remote(self) -> bool:
        """Reached over a network (its guests' files and sockets are not ours)."""
        return bool(self.host) and self.transport != "unix"

    @property
    def ssh(self) -> bool:
        return self.transport in ("ssh", "libssh", "libssh2")

    @property
    def keyfile(self) -> str | None:
        return self.params.get("keyfile")

    @property
    def known_hosts(self) -> str:
        return self.params.get("known_hosts") or KNOWN_HOSTS[0]

    @property
    def alias(self) -> str:
        """A short name for the host: ``local`` or ``user@host[:port]``."""
        if not self.remote:
            return "local"
        who = f"{self.user}@" if self.user else ""
        return f"{who}{self.host}" + (f":{self.port}" if self.port else "")

    @property
    def session_user(self) -> str | None:
        """The remote account whose daemon this is (session URIs), for messages."""
        return self.user


def is_remote(uri: str) -> bool:
    return HostURI.parse(uri).remote


def check_uri(uri: str) -> None:
    """Refuse a URI that would accept any host key, with what to do instead."""
    h = HostURI.parse(uri)
    if h.params.get("no_verify") not in (None, "", "0"):
        raise HostError(
            f"{uri}: no_verify=1 accepts any host key (and writes it to known_hosts). Remove it "
            f"and pin the host's key instead: `ssh-keyscan -p {h.port or 22} {h.host} >> "
            f"{h.known_hosts}` after checking its fingerprint, or set known_hosts= in the URI.",
            details={"uri": uri},
        )


def open_uri(uri: str) -> str:
    """The URI to hand to ``libvirt.open`` (SSH URIs get the pinning wrapper)."""
    h = HostURI.parse(uri)
    if h.transport != "ssh":
        return uri
    check_uri(uri)
    params = dict(h.params)
    params.pop("known_hosts", None)  # ignored by this transport: the wrapper pins it
    params.setdefault("no_tty", "1")  # BatchMode: never prompt on the server's terminal
    params["command"] = str(ssh_wrapper(h.known_hosts, params.get("command") or SSH_BINARY))
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(query=urlencode(params, safe="/:@~")))


def ssh_options(known_hosts: str) -> list[str]:
    return [
        "-o", f"UserKnownHostsFile={known_hosts}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"ConnectTimeout={CONNECT_TIMEOUT}",
        "-o", "ServerAliveInterval=5",
        "-o", "ServerAliveCountMax=3",
    ]  # fmt: skip


def ssh_wrapper(known_hosts: str, binary: str = SSH_BINARY) -> Path:
    """A private script running *binary* with the host key pinned to *known_hosts*."""
    from ..._paths import cache_dir

    folder = cache_dir() / "ssh"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    args = " ".join(shlex.quote(a) for a in [binary, *ssh_options(known_hosts)])
    note = "# made by kernelswitch: pins the host key (see vm/hosts/uri.py)"
    text = f'#!/bin/sh\n{note}\nexec {args} "$@"\n'
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    path = folder / f"ssh-{digest}"
    if not path.exists() or path.read_text() != text:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.chmod(0o700)
        tmp.replace(path)
    return path


def connect_hint(uri: str) -> str:
    """What to check when *uri* cannot be opened."""
    h = HostURI.parse(uri)
    if not h.remote:
        return (
            "Is libvirtd running? Start it with `virtlogd -d; libvirtd -d` "
            "(no systemd) or `systemctl start libvirtd`, then try again."
        )
    if h.ssh:
        key = f" -i {h.keyfile}" if h.keyfile else ""
        port = f" -p {h.port}" if h.port else ""
        who = f"{h.user}@" if h.user else ""
        return (
            f"Check that `ssh{port}{key} -o UserKnownHostsFile={h.known_hosts} {who}{h.host} "
            "virt-ssh-helper --help` works from the server (host up, key accepted, host key "
            f"in {h.known_hosts}, libvirt installed there)."
        )
    return f"Check that {h.host} is up and its libvirtd listens for {h.transport}."
