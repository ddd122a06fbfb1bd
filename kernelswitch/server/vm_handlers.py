"""REST: create and run VMs.

``GET|POST vms``, ``GET|DELETE vms/{name}``,
``POST vms/{name}/{start|shutdown|destroy|reboot|suspend|resume}``, ``GET storage``.

Handlers are thin: every blocking libvirt call runs in a worker thread through
:meth:`VMManager.aio`; errors are :class:`~kernelswitch.errors.KernelSwitchError`
subclasses, which the base handler turns into ``{"error": {...}}``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from jupyter_server.auth.decorator import authorized
from tornado import web

from .._common import RUN_ACTIONS
from ..vm.errors import InvalidVMSpec
from ._base import KSHandler

#: Verbs of ``POST vms/{name}/{action}`` handled here.
ACTIONS = RUN_ACTIONS
CREATE_KEYS = ("name", "iso", "os", "memory", "cpus", "disk", "start")


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


class VMBaseHandler(KSHandler):
    @property
    def vms(self) -> Any:
        """Every configured URI's VMs (:class:`~kernelswitch.vm.fleet.VMFleet`)."""
        return self.ks.vm_manager


class VMsHandler(VMBaseHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        vms = await self.vms.aio(self.vms.list)
        self.send_json({"vms": vms})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_body()
        unknown = sorted(set(body) - set(CREATE_KEYS))
        if unknown:
            raise InvalidVMSpec(
                f"Unknown keys {', '.join(unknown)}; a VM takes {', '.join(CREATE_KEYS)}.",
                details={"unknown": unknown},
            )
        for key in ("name", "iso"):
            if not isinstance(body.get(key), str):
                raise InvalidVMSpec(f"'{key}' is required and must be a string.")
        kwargs = {k: body[k] for k in CREATE_KEYS if body.get(k) is not None}
        if "start" in kwargs:
            kwargs["start"] = _truthy(kwargs["start"])
        info = await self.vms.aio(self.vms.create, **kwargs)
        self.set_header("Location", f"{self.request.path.rstrip('/')}/{quote(info['name'])}")
        self.send_json(info, status=201)


class VMHandler(VMBaseHandler):
    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        self.send_json(await self.vms.aio(self.vms.info, name))

    @web.authenticated
    @authorized
    async def delete(self, name: str) -> None:
        body = self.json_body()
        disks = _truthy(self.get_argument("disks", str(body.get("disks", "0"))))
        force = _truthy(self.get_argument("force", str(body.get("force", "0"))))
        answer = await self.vms.aio(self.vms.delete, name, disks=disks, force=force)
        self.send_json(answer)


class VMActionHandler(VMBaseHandler):
    @web.authenticated
    @authorized
    async def post(self, name: str, action: str) -> None:
        body = self.json_body()
        kwargs: dict[str, Any] = {}
        if action == "shutdown":
            if "timeout" in body:
                try:
                    kwargs["timeout"] = float(body["timeout"])
                except (TypeError, ValueError) as e:
                    msg = f"timeout must be a number of seconds, not {body['timeout']!r}."
                    raise InvalidVMSpec(msg) from e
            if "wait" in body:
                kwargs["wait"] = _truthy(body["wait"])
        method = getattr(self.vms, action)
        self.send_json(await self.vms.aio(method, name, **kwargs))


class StorageHandler(VMBaseHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        """The disk pool: capacity, allocation, available, and its volumes (bytes)."""
        self.send_json(await self.vms.aio(self.vms.storage_usage))


def routes(api: str) -> list[tuple[str, Any]]:
    name = r"(?P<name>[^/]+)"
    actions = "|".join(ACTIONS)
    return [
        (rf"{api}/vms/?", VMsHandler),
        (rf"{api}/storage/?", StorageHandler),
        (rf"{api}/vms/{name}/(?P<action>{actions})", VMActionHandler),
        (rf"{api}/vms/{name}/?", VMHandler),
    ]
