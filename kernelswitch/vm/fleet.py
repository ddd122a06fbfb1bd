"""All configured libvirt connections seen as one set of VMs.

The server manages every URI of ``KernelSwitchApp.libvirt_uris``: the VM list
merges them (each VM carries its ``uri``), a VM is found by name on the first
connection that has it, and new VMs go to the first URI. The API mirrors
:class:`~.manager.VMManager` so handlers need not care how many there are.

The server's entry points are the async ones, which keep one operation at a
time per VM (:mod:`._oplock`) and never hold a thread while waiting:

- ``await fleet.act(action, name, **options)`` — a run verb (``start``,
  ``shutdown``, ...); ``await fleet.acreate(**request)``;
  ``await fleet.adelete(name, disks=..., force=...)``.
- ``async with fleet.operation(name, "snapshot"):`` — for new verbs: inside,
  run blocking manager calls with ``await fleet.aio(fn, ...)``. A second
  operation on the same VM waits :data:`~._oplock.OP_WAIT` s, then gets 409
  ``vm_busy``. Reads (``info``, ``list``) take no lock. REST handlers derived
  from ``VMBaseHandler`` already hold it for the whole request (any verb but
  GET on a ``{name}`` route); the lock is re-entrant per task, so taking it
  again inside such a request is harmless.
- ``await fleet.aio(fn, ...)`` — a blocking call in the bounded ``libvirt``
  pool with a deadline (503 past it). Long work (disk copies, downloads)
  belongs in a pool of its own: ``kernelswitch._executors.run_in("name", fn)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from .._common import RUN_ACTIONS
from ._oplock import OP_WAIT, OperationLocks
from .errors import HostError, VMNotFound
from .guest.verbs import GUEST_BY_NAME
from .manage import MANAGE_BY_NAME, MANAGE_POOL
from .manager import SHUTDOWN_TIMEOUT, VMManager, run_blocking

log = logging.getLogger(__name__)
T = TypeVar("T")

#: VMManager methods that act on one named VM.
BY_NAME = (
    "info", *RUN_ACTIONS, "delete", "state", "press_power_button", *MANAGE_BY_NAME,
    *GUEST_BY_NAME,
)  # fmt: skip
#: Seconds a create waits for the creates queued before it (they run one at a time).
CREATE_QUEUE_WAIT = 600.0
_CREATE_GATE = "\0create"  # not a valid VM name, so it cannot clash with one


class VMFleet:
    """VMs across several libvirt URIs; the first URI is where new VMs go."""

    def __init__(self, uris: Sequence[str]) -> None:
        if not uris:
            raise ValueError("at least one libvirt URI is needed")
        self.managers = [VMManager(uri) for uri in uris]
        self.locks = OperationLocks()

    @property
    def primary(self) -> VMManager:
        return self.managers[0]

    async def aio(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking method in a worker thread."""
        return await run_blocking(fn, *args, **kwargs)

    def list(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for i, manager in enumerate(self.managers):
            try:
                out.extend(manager.list())
            except HostError as e:
                if i == 0:
                    raise  # the main connection down is the user's problem to see
                # a secondary daemon being down must not hide the others' VMs
                log.warning("kernelswitch: skipping %s in the VM list: %s", manager.uri, e)
        return out

    def owner(self, name: str) -> VMManager:
        """The manager of the first URI that has a VM called *name*."""
        for manager in self.managers[1:]:
            try:
                if name in manager.names():
                    return manager
            except HostError:
                continue
        return self.primary  # which raises VMNotFound with the usual message

    def create(self, **kwargs: Any) -> dict[str, Any]:
        for manager in self.managers[1:]:
            try:
                names = manager.names()
            except HostError:
                continue
            if kwargs.get("name") in names:
                from .errors import VMExists

                raise VMExists(
                    f"A VM named {kwargs['name']!r} already exists on {manager.uri}. "
                    "Choose another name.",
                    details={"name": kwargs["name"], "uri": manager.uri},
                )
        return self.primary.create(**kwargs)

    def storage_usage(self) -> dict[str, Any]:
        return self.primary.storage_usage()

    # ------------------------------------------------------------ async (server)

    def operation(self, name: str, what: str, wait: float = OP_WAIT) -> Any:
        """``async with``: run *what* on VM *name* alone (409 ``vm_busy`` otherwise)."""
        return self.locks.hold(name, what, wait)

    async def act(self, action: str, name: str, **options: Any) -> dict[str, Any]:
        """A run verb on VM *name*, one operation at a time per VM."""
        if action == "shutdown":
            return await self.ashutdown(name, **options)
        async with self.operation(name, action):
            return await self.aio(getattr(self, action), name, **options)

    async def ashutdown(
        self, name: str, timeout: float = SHUTDOWN_TIMEOUT, wait: bool = True
    ) -> dict[str, Any]:
        """Press the button under the VM's lock, then wait without it.

        The wait takes no lock, so ``destroy`` can always force off a guest
        that ignores the button (the shutdown then answers with its state).
        """
        from .waits import check_timeout

        timeout = check_timeout(timeout)
        async with self.operation(name, "shutdown"):
            manager = await self.aio(self.owner, name)
            await self.aio(manager.press_power_button, name)
        return await manager.ashutdown(name, timeout, wait, pressed=True)

    async def acreate(self, **request: Any) -> dict[str, Any]:
        """:meth:`create` holding the new name's lock; creates run one at a time."""
        name = request.get("name")
        key = name if isinstance(name, str) and name else _CREATE_GATE + "unnamed"
        # creates queue here, on the loop, not in worker threads on the manager's lock
        async with (
            self.operation(key, "create"),
            self.locks.hold(_CREATE_GATE, "create", CREATE_QUEUE_WAIT),
        ):
            return await self.aio(self.create, **request)

    async def adelete(self, name: str, **options: Any) -> dict[str, Any]:
        async with self.operation(name, "delete"):
            return await self.aio(self.delete, name, **options)

    def __getattr__(self, attr: str) -> Any:
        if attr in MANAGE_POOL:
            return getattr(self.primary, attr)
        if attr not in BY_NAME:
            raise AttributeError(attr)

        def by_name(name: str, *args: Any, **kwargs: Any) -> Any:
            return getattr(self.owner(name), attr)(name, *args, **kwargs)

        by_name.__name__ = attr
        return by_name


__all__ = ["BY_NAME", "VMFleet", "VMNotFound"]
