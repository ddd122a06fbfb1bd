"""Where consoles come from: ``openGraphicsFD`` locally, an SSH channel remotely.

Public API (stable): :class:`LibvirtBackend` ``(vms)`` with ``await open(name)``
(a connected socket to QEMU's VNC server, or a (reader, writer) stream pair),
``await state(name)`` and ``await preview_path(name)``; *vms* is a VMManager
or VMFleet.

Why a socket from libvirt and not a TCP port: domains get
``<listen type='none'/>`` so QEMU listens on nothing another local user could
reach (DESIGN 2); libvirt hands us one end of a socketpair that QEMU accepted.
On a remote host ``openGraphicsFD`` cannot pass a descriptor and *closes the
libvirt connection* when tried, so it is never called there: remote domains
listen on a unix socket on their host (``<listen type='socket'/>``), reached
through an SSH streamlocal channel (:mod:`kernelswitch.vm.hosts.tunnel`).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, Protocol

from .errors import ConsoleUnavailable

#: Domain states in which QEMU runs and its VNC server answers.
LIVE_STATES = ("running", "blocked", "paused", "shutting-down", "pmsuspended")


class Backend(Protocol):
    async def open(self, name: str) -> socket.socket | tuple[Any, Any]: ...

    async def state(self, name: str) -> str: ...

    async def preview_path(self, name: str) -> Path: ...


class LibvirtBackend:
    """Consoles of the VMs a :class:`~kernelswitch.vm.fleet.VMFleet` manages."""

    def __init__(self, vms: Any) -> None:
        self.vms = vms

    async def _resolve(self, name: str) -> tuple[Any, str]:
        """(manager, plain name): *name* may carry its host (a fleet ref)."""
        resolve = getattr(self.vms, "resolve", None)
        if resolve is None:
            return self.vms, name
        from ..vm._domains import run_blocking

        return await run_blocking(resolve, name)  # may ask each host: off the loop

    async def open(self, name: str) -> socket.socket | tuple[Any, Any]:
        from ..vm.manager import _translate

        manager, name = await self._resolve(name)
        if getattr(manager, "remote", False):  # never openGraphicsFD: it closes the link
            from ..vm.hosts.consoles import open_remote

            return await open_remote(manager, name)

        def open_fd(conn: Any) -> int:
            dom = conn.lookupByName(name)
            return int(dom.openGraphicsFD(0, 0))

        try:
            fd = await manager.connection.acall(open_fd)
        except Exception as e:
            err = _translate(e, name)
            if err is e:
                raise
            raise ConsoleUnavailable(
                f"Cannot open the console of VM {name!r}: {err}", details={"name": name}
            ) from e
        return socket.socket(fileno=fd)

    async def state(self, name: str) -> str:
        manager, name = await self._resolve(name)
        info = await manager.aio(manager.info, name)
        return str(info["state"])

    async def preview_path(self, name: str) -> Path:
        manager, name = await self._resolve(name)
        # where it goes (info's preview_path names it only once it exists)
        return Path(await manager.aio(manager.preview_file, name))
