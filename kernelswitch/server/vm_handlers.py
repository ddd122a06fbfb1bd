"""REST: create and run VMs.

``GET|POST vms``, ``GET|DELETE vms/{name}``,
``POST vms/{name}/{start|shutdown|destroy|reboot|suspend|resume}``, ``GET storage``.

Handlers are thin: input is checked by the schemas below before a verb runs
(:class:`~._base.KSHandler`), changes go through the fleet's async entry
points (one operation at a time per VM, waits that hold no thread), and reads
run in the bounded ``libvirt`` pool. Errors are
:class:`~kernelswitch.errors.KernelSwitchError` subclasses, which the base
handler turns into ``{"error": {...}}``.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from jupyter_server.auth.decorator import authorized
from tornado import web

from .._common import RUN_ACTIONS
from ..vm.errors import InvalidVMSpec
from ..vm.hosts.refs import split_ref
from ..vm.spec import MAX_NAME_LENGTH
from ..vm.waits import MAX_WAIT
from . import schemas as S
from ._base import KSHandler

#: Verbs of ``POST vms/{name}/{action}`` handled here.
ACTIONS = RUN_ACTIONS
CREATE_KEYS = ("name", "iso", "os", "memory", "cpus", "disk", "start", "uri", "shares")

#: Sizes: a number (MiB of memory, GiB of disk) or text like ``512M``, ``2G``.
_SIZE = {
    "oneOf": [
        {"type": "integer", "minimum": 1, "maximum": 2**40},
        {"type": "number", "exclusiveMinimum": 0, "maximum": 2**40, "not": {"type": "integer"}},
        {"type": "string", "minLength": 1, "maxLength": 32},
    ],
    "description": "a size like 512M or 2G (a bare number: MiB for memory, GiB for disk)",
}
CREATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "iso"],
    "properties": {
        "name": {
            "type": "string",
            "maxLength": MAX_NAME_LENGTH,
            "description": "letters, digits, '.', '_' and '-', e.g. fedora-37",
        },
        "iso": {
            "type": "string",
            "maxLength": S.MAX_PATH,
            "description": "absolute path of an installer .iso on the server host",
        },
        "os": {
            "type": ["string", "null"],
            "maxLength": 128,
            "description": "an osinfo short id from GET osinfo/oses, e.g. fedora37",
        },
        "memory": {**_SIZE, "description": "memory, like 512M or 2G (a bare number is MiB)"},
        "cpus": {
            "oneOf": [
                {"type": "integer", "minimum": 1, "maximum": 4096},
                {"type": "string", "minLength": 1, "maxLength": 8},
            ],
            "description": "number of virtual CPUs, e.g. 2",
        },
        "disk": {**_SIZE, "description": "disk size, like 20G (a bare number is GiB)"},
        "start": S.FLAG,
        "uri": {
            "type": ["string", "null"],
            "maxLength": S.MAX_PATH,
            "description": "the host to create it on: a configured libvirt URI or its alias "
            "(default: the first URI); there, iso is a local file (uploaded into the host's "
            "pool) or an ISO in one of its pools",
        },
        "shares": {
            "type": "array",
            "maxItems": 16,
            "items": {"type": "string", "minLength": 1, "maxLength": S.MAX_PATH},
            "description": "host folders shared with the guest (virtiofs), each DIR[:TAG]",
        },
    },
}
SHUTDOWN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "timeout": {
            "type": "number",
            "minimum": 0,
            "maximum": MAX_WAIT,
            "description": f"seconds to wait for power-off, 0 to {MAX_WAIT:g}",
        },
        "wait": S.FLAG,
    },
}
_NO_OPTIONS: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": {}}
DELETE_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"disks": S.FLAG, "force": S.FLAG},
}
DELETE_QUERY: dict[str, Any] = {
    "type": "object",
    "properties": {"disks": S.QUERY_FLAG, "force": S.QUERY_FLAG},
}


#: What a client can do next with a VM it just made (OpenAPI links; the stateful
#: contract test follows them: create, act, delete).
_LINKS = {
    op: {"operationId": op, "parameters": {"name": "$response.body#/name"}}
    for op in (
        "getVM",
        "deleteVM",
        "shutdownVM",
        *(f"runVM.{a}" for a in ACTIONS if a != "shutdown"),
    )
}


class VMBaseHandler(KSHandler):
    """Base of every VM handler: VM input errors, and one change at a time per VM.

    A request that may change VM ``{name}`` (any verb but GET) holds that VM's
    operation lock from ``prepare`` to ``on_finish``; a second one waits
    :data:`~kernelswitch.vm._oplock.OP_WAIT` s, then answers 409 ``vm_busy``.
    Verbs listed in ``self_locking`` take the lock themselves through the
    fleet's async entry points (a shutdown holds it only while pressing the
    button, so ``destroy`` can always act).
    """

    input_error = InvalidVMSpec
    self_locking: ClassVar[frozenset[str]] = frozenset()
    _locked: str | None = None

    @property
    def vms(self) -> Any:
        """Every configured URI's VMs (:class:`~kernelswitch.vm.fleet.VMFleet`)."""
        return self.ks.vm_manager

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        verb = (self.request.method or "").lower()
        name = (self.path_kwargs or {}).get("name")
        if verb in ("get", "head", "options") or not name or verb in self.self_locking:
            return
        if not await self._may_act():
            return  # the verb's decorators refuse it; nothing to hold
        key = await self.vms.lock_key(name)  # (uri, name), however the VM was named
        await self.vms.locks.acquire(key, self._operation(verb, name))
        self._locked = key

    def _operation(self, verb: str, name: str) -> str:
        """What the request does, for the busy message: ``snapshots``, ``clone``, ``edit``."""
        tail = self.request.path.rstrip("/").rsplit("/", 1)[-1]
        plain = split_ref(name)[0]
        return {"patch": "edit", "delete": "delete"}.get(verb, tail if tail != plain else verb)

    def on_finish(self) -> None:
        name, self._locked = self._locked, None
        if name is not None:
            self.vms.locks.release(name)
        super().on_finish()


class VMsHandler(VMBaseHandler):
    body_schema = {"post": CREATE_SCHEMA}
    openapi = {
        "get": {
            "operationId": "listVMs",
            "summary": "Every VM of every configured libvirt URI",
            "responses": {"200": S.ok({"$ref": "#/components/schemas/VMList"})},
        },
        "post": {
            "operationId": "createVM",
            "summary": "Create a VM from an installer ISO (and start it)",
            "responses": {
                "201": {**S.ok(S.VM, "created"), "links": _LINKS},
                **S.errors(400, 409, 422, 503, 507),
            },
        },
    }

    @web.authenticated
    @authorized
    async def get(self) -> None:
        vms = await self.vms.aio(self.vms.list)
        self.send_json({"vms": vms, "hosts": self.vms.hosts()})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        kwargs = {k: self.body[k] for k in CREATE_KEYS if self.body.get(k) is not None}
        if "start" in kwargs:
            kwargs["start"] = S.truthy(kwargs["start"])
        info = await self.vms.acreate(**kwargs)
        self.set_header("Location", f"{self.request.path.rstrip('/')}/{quote(info['name'])}")
        self.send_json(info, status=201)


class VMHandler(VMBaseHandler):
    self_locking = frozenset({"delete"})
    body_schema = {"delete": DELETE_BODY}
    query_schema = {"delete": DELETE_QUERY}
    openapi = {
        "get": {
            "operationId": "getVM",
            "summary": "One VM: state, OS, memory, disks, media",
            "responses": {"200": S.ok(S.VM), **S.errors(400, 404)},
        },
        "delete": {
            "operationId": "deleteVM",
            "summary": "Delete a VM; its disks only with disks=1 (the answer lists them)",
            "responses": {
                "200": S.ok({"$ref": "#/components/schemas/Deleted"}),
                **S.errors(400, 404, 409),
            },
        },
    }

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        self.send_json(await self.vms.aio(self.vms.info, name))

    @web.authenticated
    @authorized
    async def delete(self, name: str) -> None:
        disks = S.truthy(self.query.get("disks", self.body.get("disks", False)))
        force = S.truthy(self.query.get("force", self.body.get("force", False)))
        self.send_json(await self.vms.adelete(name, disks=disks, force=force))


class VMActionHandler(VMBaseHandler):
    """``POST vms/{name}/{start|destroy|reboot|suspend|resume}`` (no options)."""

    self_locking = frozenset({"post"})
    body_schema = {"post": _NO_OPTIONS}
    openapi = {
        "post": {
            "operationId": "runVM",
            "summary": "Start, force off (destroy), reboot, suspend or resume a VM",
            "responses": {"200": S.ok(S.VM), **S.errors(400, 404, 409, 504)},
        }
    }

    @web.authenticated
    @authorized
    async def post(self, name: str, action: str) -> None:
        self.send_json(await self.vms.act(action, name))


class VMShutdownHandler(VMBaseHandler):
    """``POST vms/{name}/shutdown {"timeout": s, "wait": bool}``: the ACPI power button."""

    self_locking = frozenset({"post"})
    body_schema = {"post": SHUTDOWN_SCHEMA}
    openapi = {
        "post": {
            "operationId": "shutdownVM",
            "summary": "Press the ACPI power button; with wait, until off or the timeout",
            "responses": {"200": S.ok(S.VM), **S.errors(400, 404, 409, 504)},
        }
    }

    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        options: dict[str, Any] = {}
        if "timeout" in self.body:
            options["timeout"] = self.body["timeout"]
        if "wait" in self.body:
            options["wait"] = S.truthy(self.body["wait"])
        self.send_json(await self.vms.act("shutdown", name, **options))


class StorageHandler(VMBaseHandler):
    openapi = {
        "get": {
            "operationId": "getStorage",
            "summary": "The disk pool: capacity, allocation, available, volumes (bytes); "
            "with ?uri=HOST, that host's pool (default: the first host's)",
            "responses": {
                "200": S.ok({"$ref": "#/components/schemas/Storage"}),
                **S.errors(400, 503),
            },
        }
    }
    query_schema: ClassVar[dict[str, dict[str, Any]]] = {
        "get": {"type": "object", "properties": {"uri": {
            "type": "string", "minLength": 1, "maxLength": S.MAX_PATH,
            "description": "the host: a configured libvirt URI or its alias"}}},
    }  # fmt: skip

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """The disk pool: capacity, allocation, available, and its volumes (bytes).

        Why ``?uri=``: with several hosts the VM manager shows each host's
        pool, as each host's disks go in its own.
        """
        host = self.get_query_argument("uri", None)
        if host:
            self.send_json(await self.vms.aio(self.vms.manager_for(host).storage_usage))
        else:
            self.send_json(await self.vms.aio(self.vms.storage_usage))


def routes(api: str) -> list[tuple[str, Any]]:
    name = r"(?P<name>[^/]+)"
    actions = "|".join(a for a in ACTIONS if a != "shutdown")
    return [
        (rf"{api}/vms/?", VMsHandler),
        (rf"{api}/storage/?", StorageHandler),
        (rf"{api}/vms/{name}/shutdown", VMShutdownHandler),
        (rf"{api}/vms/{name}/(?P<action>{actions})", VMActionHandler),
        (rf"{api}/vms/{name}/?", VMHandler),
    ]
