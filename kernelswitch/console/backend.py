"""Where consoles come from: ``openGraphicsFD`` locally, an SSH channel remotely.

Public API (stable): :class:`LibvirtBackend` ``(vms)`` with ``await open(name)``
(a connected socket to QEMU's VNC server, or a (reader, writer) stream pair),
``await state(name)``, ``await preview_path(name)`` and
``await send_chord(name, qnums, hold_ms)`` (:mod:`.typist`); *vms* is a
VMManager or VMFleet.

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

    async def send_chord(self, name: str, keys: list[int], hold_ms: int) -> None: ...

    def is_local(self, name: str) -> bool: ...


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
            # openGraphicsFD asks QEMU's monitor: in the VM's lane, with a deadline
            fd = await manager.guard.acall(
                name, lambda: manager.connection.call(open_fd), "opening its console"
            )
        except Exception as e:
            err = _translate(e, name)
            if err is e:
                raise  # ours already (VMUnresponsive, VMBusy, ...) or a bug
            raise ConsoleUnavailable(
                f"Cannot open the console of VM {name!r}: {err}", details={"name": name}
            ) from e
        return socket.socket(fileno=fd)

    async def send_chord(self, name: str, keys: list[int], hold_ms: int) -> None:
        """Press *keys* (qnums) in order, release them in reverse, *hold_ms* apart
        (libvirt ``sendKey``: a monitor call, so in the VM's lane with a deadline)."""
        from ..vm.connection import libvirt_module
        from ..vm.manager import _translate

        libvirt = libvirt_module()
        manager, name = await self._resolve(name)

        def send(conn: Any) -> None:
            dom = conn.lookupByName(name)
            dom.sendKey(libvirt.VIR_KEYCODE_SET_QNUM, hold_ms, keys, len(keys), 0)

        try:
            await manager.guard.acall(name, lambda: manager.connection.call(send), "typing")
        except Exception as e:
            err = _translate(e, name)
            if err is e:
                raise
            raise err from e

    def is_local(self, name: str) -> bool:
        """Whether VM *name*'s QEMU runs on this host (a local libvirt URI)."""
        owner = getattr(self.vms, "owner", None)
        manager = owner(name) if owner else self.vms
        return bool(manager.guard.local)

    async def state(self, name: str) -> str:
        manager, name = await self._resolve(name)
        return str(await manager.aio(manager.state, name))  # never waits on QEMU

    async def preview_path(self, name: str) -> Path:
        manager, name = await self._resolve(name)
        # where it goes (info's preview_path names it only once it exists)
        return Path(await manager.aio(manager.preview_file, name))
