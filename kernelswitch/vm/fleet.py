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
  ``vm_busy``. The lock is keyed by (uri, name) (:meth:`VMFleet.lock_key`),
  whether the VM was named bare or with ``?uri=``, so the two cannot race.
  Reads (``info``, ``list``) take no lock. REST handlers derived
  from ``VMBaseHandler`` already hold it for the whole request (any verb but
  GET on a ``{name}`` route); the lock is re-entrant per task, so taking it
  again inside such a request is harmless.
- ``await fleet.aio(fn, ...)`` — a blocking call in the bounded ``libvirt``
  pool with a deadline (503 past it). Long work (disk copies, downloads)
  belongs in a pool of its own: ``kernelswitch._executors.run_in("name", fn)``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

from .._common import RUN_ACTIONS
from ._oplock import OP_WAIT, OperationLocks
from .errors import HostError, VMNotFound
from .guard import PoolAdmission
from .guest.verbs import GUEST_BY_NAME
from .hosts.local_only import LOCAL_ONLY, refuse_remote
from .hosts.refs import VMAmbiguous, find_host, ref, split_ref
from .hosts.status import HostBoard
from .manage import MANAGE_BY_NAME, MANAGE_POOL
from .manager import SHUTDOWN_TIMEOUT, VMManager, run_blocking

log = logging.getLogger(__name__)
T = TypeVar("T")
Records = list[dict[str, Any]]

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
        self.admission = PoolAdmission()
        self.board = HostBoard(self.managers)

    @property
    def primary(self) -> VMManager:
        return self.managers[0]

    async def aio(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking method in the ``libvirt`` pool; one VM's calls
        (``aio(fleet.info, name)``) hold at most :data:`~.guard.PER_VM_THREADS` threads."""
        name = args[0] if args and isinstance(args[0], str) else None
        if name is None:
            return await run_blocking(fn, *args, **kwargs)
        async with self.admission.admit(name):
            return await run_blocking(fn, *args, **kwargs)

    def list(self) -> list[dict[str, Any]]:
        """Every host's VMs (each record says its ``uri`` and ``host`` alias).

        Hosts are asked at once (:class:`~.hosts.status.HostBoard`): a remote
        host that is down or slow is left out after
        :data:`~.hosts.status.LIST_DEADLINE` s and listed by :meth:`hosts` as
        down with the reason, while it reconnects in the background.
        """
        answers = self.board.ask(lambda m: m.list())
        out: list[dict[str, Any]] = []
        for i, manager in enumerate(self.managers):
            got = answers[manager.uri]
            if isinstance(got, HostError):
                if i == 0 and not manager.remote:
                    raise got  # the main local daemon down is the user's problem to see
                log.warning("kernelswitch: skipping %s in the VM list: %s", manager.uri, got)
                continue
            out.extend(got)  # each record names its uri and host
        return out

    def hosts(self) -> Records:
        """Each configured host: ``uri``, ``alias``, ``remote``, ``state`` (up/down), ``reason``."""
        return self.board.hosts()

    def manager_for(self, uri_or_alias: str) -> VMManager:
        """The manager of a configured URI (or its alias); 400 ``unknown_host`` otherwise."""
        uri = find_host([m.uri for m in self.managers], uri_or_alias)
        return next(m for m in self.managers if m.uri == uri)

    def resolve(self, name: str) -> tuple[VMManager, str]:
        """(manager, plain name) for a VM name or a :func:`~.hosts.refs.ref`."""
        plain, uri = split_ref(name)
        if uri is not None:
            return self.manager_for(uri), plain
        return self._find(plain), plain

    def owner(self, name: str) -> VMManager:
        """The manager of the host that has VM *name* (a ref names its host)."""
        return self.resolve(name)[0]

    def _find(self, name: str) -> VMManager:
        """The one reachable host with VM *name*; 409 when several have one."""
        if len(self.managers) == 1:
            return self.primary
        have: list[VMManager] = []
        for manager in self.managers:
            if manager.remote and not manager.connection.is_open:
                continue  # never wait here on a host that is down (the list says so)
            try:
                if name in manager.names():
                    have.append(manager)
            except HostError:
                continue
        if len(have) > 1:
            hosts = ", ".join(m.alias for m in have)
            raise VMAmbiguous(
                f"There is a VM named {name!r} on {hosts}. Say which host: add ?uri=HOST to "
                "the request (or --host HOST to the command), HOST being one of those.",
                details={"name": name, "uris": [m.uri for m in have]},
            )
        return have[0] if have else self.primary  # which raises VMNotFound as usual

    def create(self, **kwargs: Any) -> dict[str, Any]:
        target = self.manager_for(kwargs.pop("uri")) if kwargs.get("uri") else self.primary
        kwargs.pop("uri", None)
        if kwargs.get("shares"):
            refuse_remote(target, "shared folders", "shares")
        for manager in self.managers:
            if manager is target or (manager.remote and not manager.connection.is_open):
                continue
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
        return target.create(**kwargs)

    def storage_usage(self) -> dict[str, Any]:
        return self.primary.storage_usage()

    # ------------------------------------------------------------ async (server)

    async def lock_key(self, name: str) -> str:
        """The operation-lock key of VM *name* (bare or a ref): always ``ref(name, uri)``.

        Why: a bare name and the same name with ``?uri=`` are one VM; keyed
        apart, a start through one and a delete through the other would run
        at once. A bare name is resolved as the verb will resolve it (the one
        host that has it; the first host when none does, where a create goes).
        """
        plain, uri = split_ref(name)
        if uri is not None:
            return ref(plain, self.manager_for(uri).uri)
        if len(self.managers) == 1:
            return ref(plain, self.primary.uri)
        return ref(plain, (await run_blocking(self._find, plain)).uri)

    @contextlib.asynccontextmanager
    async def operation(self, name: str, what: str, wait: float = OP_WAIT) -> AsyncIterator[None]:
        """``async with``: run *what* on VM *name* alone (409 ``vm_busy`` otherwise)."""
        async with self.locks.hold(await self.lock_key(name), what, wait):
            yield

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
            manager, plain = await self.aio(self.resolve, name)
            await self.aio(manager.press_power_button, plain)
        return await manager.ashutdown(plain, timeout, wait, pressed=True)

    async def acreate(self, **request: Any) -> dict[str, Any]:
        """:meth:`create` holding the new name's lock; creates run one at a time."""
        name = request.get("name")
        target = self.manager_for(request["uri"]) if request.get("uri") else self.primary
        # lock per host, the key a later verb on the new VM takes (lock_key)
        key = ref(name, target.uri) if isinstance(name, str) and name else _CREATE_GATE + "unnamed"
        # creates queue here, on the loop, not in worker threads on the manager's lock
        async with (
            self.locks.hold(key, "create"),
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
            manager, plain = self.resolve(name)
            if attr in LOCAL_ONLY:
                refuse_remote(manager, LOCAL_ONLY[attr])
            return getattr(manager, attr)(plain, *args, **kwargs)

        by_name.__name__ = attr
        return by_name


__all__ = ["BY_NAME", "VMFleet", "VMNotFound"]
