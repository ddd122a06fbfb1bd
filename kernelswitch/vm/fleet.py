"""All configured libvirt connections seen as one set of VMs.

The server manages every URI of ``KernelSwitchApp.libvirt_uris``: the VM list
merges them (each VM carries its ``uri``), a VM is found by name on the first
connection that has it, and new VMs go to the first URI. The API mirrors
:class:`~.manager.VMManager` so handlers need not care how many there are.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from .._common import RUN_ACTIONS
from .errors import HostError, VMNotFound
from .manage import MANAGE_BY_NAME, MANAGE_POOL
from .manager import VMManager, run_blocking

log = logging.getLogger(__name__)
T = TypeVar("T")

#: VMManager methods that act on one named VM.
BY_NAME = ("info", *RUN_ACTIONS, "delete", *MANAGE_BY_NAME)


class VMFleet:
    """VMs across several libvirt URIs; the first URI is where new VMs go."""

    def __init__(self, uris: Sequence[str]) -> None:
        if not uris:
            raise ValueError("at least one libvirt URI is needed")
        self.managers = [VMManager(uri) for uri in uris]

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
