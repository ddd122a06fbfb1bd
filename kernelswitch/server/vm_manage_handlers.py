"""REST: manage VMs — media, snapshots, clone, edit, disks and orphans.

``POST vms/{name}/{eject|insert}``, ``GET|POST vms/{name}/snapshots``,
``POST|DELETE vms/{name}/snapshots/{snap}``, ``POST vms/{name}/snapshots/{snap}/revert``,
``POST vms/{name}/clone``, ``PATCH vms/{name}``, ``GET storage/disks``,
``DELETE storage/disks/{disk}``, ``POST storage/disks/delete``. (The ISO
catalogue and downloads are in :mod:`.iso_handlers`.)

Thin, like :mod:`.vm_handlers`: bodies are checked against the schemas below
before a verb runs (unknown keys and wrong types are a 400 that changes
nothing), changes to a VM hold its operation lock (taken by
:class:`~.vm_handlers.VMBaseHandler`; 409 ``vm_busy`` while another runs),
the work runs in a worker thread through the fleet, and errors are the VM
error tree.
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import quote

from jupyter_server.auth.decorator import authorized
from tornado import web

from .._executors import run_in
from ..vm.hosts.refs import ref, split_ref
from ..vm.snapshots import SNAPSHOT_NAME_RE
from ..vm.spec import MAX_NAME_LENGTH
from . import schemas as S
from .vm_handlers import _SIZE, VMBaseHandler, VMHandler

#: Pool for work whose length grows with the data (disk copies, saving a guest's
#: memory into a snapshot): it may outlast the libvirt pool's call deadline, and
#: in a pool of its own it cannot starve short calls.
LONG_POOL = "vm-long"


def obj_schema(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A body with exactly these keys (unknown keys refused)."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(required),
        "properties": properties,
    }


_DEV = {"type": "string", "minLength": 1, "maxLength": 32, "description": "a drive, e.g. sda"}
_PATH = {"type": "string", "minLength": 1, "maxLength": S.MAX_PATH}
_SNAP_NAME = {
    "type": "string",
    "minLength": 1,
    "maxLength": 64,
    "description": f"letters, digits, '.', '_' and '-' ({SNAPSHOT_NAME_RE.pattern})",
}
_VM_NAME = {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH}
def listing_schema(key: str, item: dict[str, Any]) -> dict[str, Any]:
    """``{key: [item, ...], ...}`` (a listing answer)."""
    return {
        "type": "object",
        "required": [key],
        "properties": {key: {"type": "array", "items": item}},
    }

_SNAPSHOT = {
    "type": "object",
    "required": ["name", "created", "state", "current", "kind"],
    "properties": {
        "name": {"type": "string"},
        "created": {"type": "string"},
        "created_ts": {"type": "integer"},
        "state": {"type": ["string", "null"]},
        "description": {"type": ["string", "null"]},
        "parent": {"type": ["string", "null"]},
        "current": {"type": "boolean"},
        "kind": {"enum": ["internal", "external"]},
    },
}


class EjectHandler(VMBaseHandler):
    body_schema = {"post": obj_schema({"target": _DEV, "force": {"type": "boolean"}})}
    openapi = {
        "post": {
            "summary": "Eject the disc from a CD/DVD drive, live and in the definition",
            "responses": {"200": S.ok(S.VM), **S.errors(400, 404, 409, 504)},
        }
    }

    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        self.send_json(await self.vms.aio(self.vms.eject, name, **self.body))


class InsertHandler(VMBaseHandler):
    body_schema = {"post": obj_schema({"iso": _PATH, "target": _DEV}, ("iso",))}
    openapi = {
        "post": {
            "summary": "Insert an ISO in a CD/DVD drive (replacing a disc), live and in the "
            "definition",
            "responses": {"200": S.ok(S.VM), **S.errors(400, 404, 409, 504)},
        }
    }

    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        self.send_json(await self.vms.aio(self.vms.insert, name, **self.body))


class SnapshotsHandler(VMBaseHandler):
    body_schema = {
        "post": obj_schema(
            {"name": _SNAP_NAME, "description": {"type": "string", "maxLength": 1024}}, ("name",)
        )
    }
    openapi = {
        "get": {
            "summary": "A VM's internal snapshots, oldest first (time, VM state, current)",
            "responses": {
                "200": S.ok(listing_schema("snapshots", _SNAPSHOT)),
                **S.errors(400, 404),
            },
        },
        "post": {
            "summary": "Take an internal snapshot (refused for raw disks and UEFI pflash)",
            "responses": {"201": S.ok(_SNAPSHOT, "taken"), **S.errors(400, 404, 409, 504, 507)},
        },
    }

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        self.send_json({"name": name, "snapshots": await self.vms.aio(self.vms.snapshots, name)})

    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        snap = await run_in(
            LONG_POOL,
            self.vms.snapshot_create,
            name,
            self.body["name"],
            self.body.get("description"),
        )
        self.set_header("Location", f"{self.request.path.rstrip('/')}/{quote(snap['name'])}")
        self.send_json(snap, status=201)


class SnapshotHandler(VMBaseHandler):
    body_schema = {"post": obj_schema({"description": {"type": "string", "maxLength": 1024}})}
    openapi = {
        "post": {
            "summary": "Take the internal snapshot {snap} (same as POST snapshots with its name)",
            "responses": {"201": S.ok(_SNAPSHOT, "taken"), **S.errors(400, 404, 409, 504, 507)},
        },
        "delete": {
            "summary": "Delete one internal snapshot",
            "responses": {"200": S.ok({"type": "object"}), **S.errors(400, 404, 409, 504)},
        },
    }

    @web.authenticated
    @authorized
    async def post(self, name: str, snap: str) -> None:
        taken = await run_in(
            LONG_POOL, self.vms.snapshot_create, name, snap, self.body.get("description")
        )
        self.set_header("Location", self.request.path.rstrip("/"))
        self.send_json(taken, status=201)

    @web.authenticated
    @authorized
    async def delete(self, name: str, snap: str) -> None:
        self.send_json(await self.vms.aio(self.vms.snapshot_delete, name, snap))


class SnapshotRevertHandler(VMBaseHandler):
    body_schema = {"post": obj_schema({})}
    openapi = {
        "post": {
            "summary": "Revert a VM to a snapshot (disks, and memory if taken running)",
            "responses": {"200": S.ok(S.VM), **S.errors(400, 404, 409, 504)},
        }
    }

    @web.authenticated
    @authorized
    async def post(self, name: str, snap: str) -> None:
        from .events_handlers import tell_media_changes

        before = await self.vms.aio(self.vms.info, name)
        after = await run_in(LONG_POOL, self.vms.snapshot_revert, name, snap)
        tell_media_changes(self.settings, before, after)
        self.send_json(after)


def _name_free_everywhere(fleet: Any, new: str) -> None:
    """A clone's name must be unused on every configured URI, not only the source's."""
    from ..vm.errors import HostError, VMExists

    for manager in fleet.managers:
        try:
            names = manager.names()
        except HostError:
            continue  # a daemon that is down has no VM to clash with now
        if new in names:
            raise VMExists(
                f"A VM named {new!r} already exists on {manager.uri}. Choose another name "
                "for the clone.",
                details={"name": new, "uri": manager.uri},
            )


class CloneHandler(VMBaseHandler):
    body_schema = {"post": obj_schema({"name": _VM_NAME}, ("name",))}
    openapi = {
        "post": {
            "summary": "Clone a shut-off VM: full copies of its disks, new name, UUID, MAC",
            "responses": {"201": S.ok(S.VM, "cloned"), **S.errors(400, 404, 409, 507)},
        }
    }

    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        new = self.body["name"]
        # The base handler holds the source's lock; the new name's too, so two
        # clones (or a create) cannot race for it. Onto itself: VMExists.
        async with contextlib.AsyncExitStack() as stack:
            if new != name:  # the clone goes on the source's host: lock it there
                _, uri = split_ref(await self.vms.lock_key(name))
                await stack.enter_async_context(self.vms.operation(ref(new, uri), "clone"))
            await self.vms.aio(_name_free_everywhere, self.vms, new)
            info = await run_in(LONG_POOL, self.vms.clone, name, new)
        base = self.request.path.rsplit("/", 2)[0]
        self.set_header("Location", f"{base}/{quote(info['name'])}")
        self.send_json(info, status=201)


EDIT_SCHEMA = obj_schema(
    {
        "memory": {**_SIZE, "description": "memory, like 2G (a bare number is MiB)"},
        "cpus": {
            "oneOf": [
                {"type": "integer", "minimum": 1, "maximum": 4096},
                {"type": "string", "minLength": 1, "maxLength": 8},
            ]
        },
        "autostart": S.FLAG,
        "add_disk": {**_SIZE, "description": "a new disk of this size (a bare number is GiB)"},
        "grow": obj_schema({"disk": _DEV, "size": _SIZE}, ("size",)),
    }
)


class VMEditHandler(VMHandler):
    """``vms/{name}``: GET and DELETE as :class:`VMHandler`, plus PATCH (edit)."""

    body_schema = {**VMHandler.body_schema, "patch": EDIT_SCHEMA}
    openapi = {
        **VMHandler.openapi,
        "patch": {
            "summary": "Change memory, vCPUs, autostart; add or grow a disk (answer: "
            "changes[], each saying whether it applies now or from the next boot)",
            "responses": {"200": S.ok(S.VM), **S.errors(400, 404, 409, 504, 507)},
        },
    }

    @web.authenticated
    @authorized
    async def patch(self, name: str) -> None:
        changes = dict(self.body or {})
        if "autostart" in changes:
            changes["autostart"] = S.truthy(changes["autostart"])
        self.send_json(await self.vms.aio(self.vms.edit, name, **changes))


class DisksHandler(VMBaseHandler):
    openapi = {
        "get": {
            "summary": "Every disk image: size on disk, capacity, VMs using it, orphans, totals",
            "responses": {
                "200": S.ok(listing_schema("disks", {"type": "object"})),
                **S.errors(503),
            },
        }
    }

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.send_json(await self.vms.aio(self.vms.disks))


_REMOVED = S.ok({"type": "object", "required": ["removed", "freed"]})


class DiskHandler(VMBaseHandler):
    openapi = {
        "delete": {
            "summary": "Delete one orphan disk (no VM uses it); the answer names it",
            "responses": {"200": _REMOVED, **S.errors(400, 404)},
        }
    }

    @web.authenticated
    @authorized
    async def delete(self, disk: str) -> None:
        self.send_json(await self.vms.aio(self.vms.delete_disks, [disk]))


class DisksDeleteHandler(VMBaseHandler):
    """Several orphans at once: all are checked before any is deleted."""

    body_schema = {
        "post": obj_schema(
            {"disks": {"type": "array", "minItems": 1, "maxItems": 1000, "items": _PATH}},
            ("disks",),
        )
    }
    openapi = {
        "post": {
            "summary": "Delete these orphan disks; none if one is in use or unknown",
            "responses": {"200": _REMOVED, **S.errors(400, 404)},
        }
    }

    @web.authenticated
    @authorized
    async def post(self) -> None:
        self.send_json(await self.vms.aio(self.vms.delete_disks, self.body["disks"]))


def routes(api: str) -> list[tuple[str, Any]]:
    """More specific than ``vms/{name}/{action}``: register these before :mod:`.vm_handlers`."""
    name = r"(?P<name>[^/]+)"
    snap = r"(?P<snap>[^/]+)"
    return [
        (rf"{api}/vms/{name}/eject", EjectHandler),
        (rf"{api}/vms/{name}/insert", InsertHandler),
        (rf"{api}/vms/{name}/snapshots/?", SnapshotsHandler),
        (rf"{api}/vms/{name}/snapshots/{snap}/revert", SnapshotRevertHandler),
        (rf"{api}/vms/{name}/snapshots/{snap}", SnapshotHandler),
        (rf"{api}/vms/{name}/clone", CloneHandler),
        (rf"{api}/vms/{name}/?", VMEditHandler),
        (rf"{api}/storage/disks/?", DisksHandler),
        (rf"{api}/storage/disks/delete", DisksDeleteHandler),
        (rf"{api}/storage/disks/(?P<disk>[^/]+)", DiskHandler),
    ]
