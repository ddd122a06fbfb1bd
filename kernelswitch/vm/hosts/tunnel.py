"""SSH channels to a remote host's unix sockets (its guests' VNC sockets).

Public API (stable): :func:`open_unix` ``(uri, path) -> (reader, writer)`` — an
asyncio-style stream pair over an SSH ``direct-streamlocal`` channel to *path*
on the host of *uri*; :func:`close_all`.

Why: ``openGraphicsFD`` works only over a local unix socket; on ``qemu+ssh``
it fails *and closes the libvirt connection* (DESIGN, remote libvirt). A remote
domain's VNC listens on a unix socket on its host (``<listen type='socket'/>``),
which an SSH streamlocal channel reaches (``ssh -W`` cannot, and stock hosts
have no ``nc``). One SSH connection per host and event loop carries every
console of that host as channels (asyncssh), with the same key file and the
same pinned known_hosts as the libvirt connection — never "accept any key".
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

from ..errors import HostError
from .uri import CONNECT_TIMEOUT, HostURI

_POOL: dict[tuple[int, str], Any] = {}
_LOCKS: dict[tuple[int, str], asyncio.Lock] = {}


def _asyncssh() -> Any:
    with warnings.catch_warnings():
        # asyncssh imports cryptography's DSA names, which warn (we never use DSA)
        warnings.simplefilter("ignore")
        try:
            import asyncssh
        except ImportError as e:
            raise HostError(
                "Remote consoles need asyncssh: `pip install 'kernelswitch[vm]'` "
                "(or `pip install asyncssh`)."
            ) from e
    return asyncssh


def _key(uri: str) -> tuple[int, str]:
    h = HostURI.parse(uri)
    return id(asyncio.get_running_loop()), f"{h.user}@{h.host}:{h.port or 22}"


async def connection(uri: str) -> Any:
    """The pooled SSH connection to *uri*'s host (made or remade on demand)."""
    asyncssh = _asyncssh()
    key = _key(uri)
    lock = _LOCKS.setdefault(key, asyncio.Lock())
    async with lock:
        conn = _POOL.get(key)
        if conn is not None and not conn.is_closed():
            return conn
        h = HostURI.parse(uri)
        options: dict[str, Any] = {
            "port": h.port or 22,
            "known_hosts": h.known_hosts,
            "connect_timeout": CONNECT_TIMEOUT,
            "keepalive_interval": 5,
            "keepalive_count_max": 3,
        }
        if h.user:
            options["username"] = h.user
        if h.keyfile:
            options["client_keys"] = [h.keyfile]
        try:
            conn = await asyncssh.connect(h.host, **options)
        except (OSError, asyncssh.Error, asyncio.TimeoutError) as e:
            raise HostError(
                f"Cannot reach {h.alias} over SSH for the console: {e}. "
                f"Check the host is up and its key is in {h.known_hosts}.",
                details={"uri": uri},
            ) from e
        _POOL[key] = conn
        return conn


async def open_unix(uri: str, path: str) -> tuple[Any, Any]:
    """A (reader, writer) pair to unix socket *path* on *uri*'s host."""
    asyncssh = _asyncssh()
    conn = await connection(uri)
    try:
        return await conn.open_unix_connection(path)
    except asyncssh.ChannelOpenError as e:
        raise HostError(
            f"The host {HostURI.parse(uri).alias} refused a channel to {path}: {e.reason}. "
            "Its sshd must allow it: AllowStreamLocalForwarding and AllowTcpForwarding "
            "yes (the defaults) and no PermitOpen none.",
            details={"uri": uri, "path": path},
        ) from e


async def close_all() -> None:
    """Close this loop's pooled SSH connections."""
    loop_id = id(asyncio.get_running_loop())
    for key in [k for k in _POOL if k[0] == loop_id]:
        conn = _POOL.pop(key)
        conn.close()
        try:
            await asyncio.wait_for(conn.wait_closed(), 2)
        except (asyncio.TimeoutError, OSError):
            pass
