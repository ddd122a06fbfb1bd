"""REST: manage VMs — media, snapshots, clone, edit, disks, ISO catalogue.

``POST vms/{name}/{eject|insert}``, ``GET|POST vms/{name}/snapshots``,
``DELETE vms/{name}/snapshots/{snap}``, ``POST vms/{name}/snapshots/{snap}/revert``,
``POST vms/{name}/clone``, ``PATCH vms/{name}``, ``GET storage/disks``,
``DELETE storage/disks/{disk}``, ``POST storage/disks/delete``,
``GET osinfo/catalog[?q=]``, ``POST isos/download``, ``GET isos/downloads/{job}``.

Thin, like :mod:`.vm_handlers`: bodies are checked here (unknown keys and
wrong types are a 400 that changes nothing), the work runs in a worker thread
through the fleet, errors are the VM error tree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..vm.errors import InvalidVMSpec
from .vm_handlers import VMBaseHandler, VMHandler

_STR = (str,)
_SIZE = (str, int, float)


def _checked(
    body: dict[str, Any], spec: Mapping[str, tuple[type, ...]], required: tuple = ()
) -> dict:
    """*body* if its keys are in *spec* with the right types; else one 400 naming the fix."""
    unknown = sorted(set(body) - set(spec))
    if unknown:
        raise InvalidVMSpec(
            f"Unknown keys {', '.join(unknown)}; this takes {', '.join(spec) or 'no keys'}.",
            details={"unknown": unknown},
        )
    for key in required:
        if body.get(key) is None:
            raise InvalidVMSpec(f"'{key}' is required.", details={"key": key})
    for key, value in body.items():
        types = spec[key]
        if value is not None and (
            not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
        ):
            names = " or ".join(t.__name__ for t in types)
            raise InvalidVMSpec(f"'{key}' must be {names}, not {value!r}.", details={"key": key})
    return {k: v for k, v in body.items() if v is not None}


class MediaHandler(VMBaseHandler):
    @web.authenticated
    @authorized
    async def post(self, name: str, action: str) -> None:
        if action == "eject":
            body = _checked(self.json_body(), {"target": _STR, "force": (bool,)})
            answer = await self.vms.aio(self.vms.eject, name, **body)
        else:
            body = _checked(self.json_body(), {"iso": _STR, "target": _STR}, ("iso",))
            answer = await self.vms.aio(self.vms.insert, name, **body)
        self.send_json(answer)


class SnapshotsHandler(VMBaseHandler):
    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        self.send_json({"name": name, "snapshots": await self.vms.aio(self.vms.snapshots, name)})

    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        body = _checked(self.json_body(), {"name": _STR, "description": _STR}, ("name",))
        snap = await self.vms.aio(
            self.vms.snapshot_create, name, body["name"], body.get("description")
        )
        self.set_header("Location", f"{self.request.path.rstrip('/')}/{quote(snap['name'])}")
        self.send_json(snap, status=201)


class SnapshotHandler(VMBaseHandler):
    @web.authenticated
    @authorized
    async def delete(self, name: str, snap: str) -> None:
        self.send_json(await self.vms.aio(self.vms.snapshot_delete, name, snap))


class SnapshotRevertHandler(VMBaseHandler):
    @web.authenticated
    @authorized
    async def post(self, name: str, snap: str) -> None:
        self.send_json(await self.vms.aio(self.vms.snapshot_revert, name, snap))


class CloneHandler(VMBaseHandler):
    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        body = _checked(self.json_body(), {"name": _STR}, ("name",))
        info = await self.vms.aio(self.vms.clone, name, body["name"])
        base = self.request.path.rsplit("/", 2)[0]
        self.set_header("Location", f"{base}/{quote(info['name'])}")
        self.send_json(info, status=201)


class VMEditHandler(VMHandler):
    """``vms/{name}``: GET and DELETE as before, plus PATCH (edit)."""

    @web.authenticated
    @authorized
    async def patch(self, name: str) -> None:
        spec = {
            "memory": _SIZE, "cpus": (int, str), "autostart": (bool, str),
            "add_disk": _SIZE, "grow": (dict,),
        }  # fmt: skip
        body = _checked(self.json_body(), spec)
        if "grow" in body:
            body["grow"] = _checked(body["grow"], {"disk": _STR, "size": _SIZE}, ("size",))
        self.send_json(await self.vms.aio(self.vms.edit, name, **body))


class DisksHandler(VMBaseHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.send_json(await self.vms.aio(self.vms.disks))


class DiskHandler(VMBaseHandler):
    @web.authenticated
    @authorized
    async def delete(self, disk: str) -> None:
        self.send_json(await self.vms.aio(self.vms.delete_disks, [disk]))


class DisksDeleteHandler(VMBaseHandler):
    """Several orphans at once: all are checked before any is deleted."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = _checked(self.json_body(), {"disks": (list,)}, ("disks",))
        self.send_json(await self.vms.aio(self.vms.delete_disks, body["disks"]))


class CatalogHandler(VMBaseHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        query = self.get_argument("q", "").strip() or None
        media = await self.vms.aio(self.vms.catalog, query)
        self.send_json({"media": media, "query": query})


_JOBS: Any = None


def _jobs() -> Any:
    """The server's background downloads (one registry per process)."""
    global _JOBS
    if _JOBS is None:
        from ..vm.download import DownloadJobs

        _JOBS = DownloadJobs()
    return _JOBS


class DownloadHandler(VMBaseHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Download now (201 + the result), or with ``background`` start a job (202)."""
        spec = {"os": _STR, "arch": _STR, "index": (int,), "sha256": _STR, "background": (bool,)}
        body = _checked(self.json_body(), spec, ("os",))
        if body.pop("background", False):
            os_id = body.pop("os")
            job = await self.vms.aio(_jobs().start, os_id, **body)
            base = self.request.path.rsplit("/", 1)[0]
            self.set_header("Location", f"{base}/downloads/{job['id']}")
            self.send_json(job, status=202)
            return
        self.send_json(await self.vms.aio(self.vms.download, **body), status=201)


class DownloadJobHandler(VMBaseHandler):
    @web.authenticated
    @authorized
    async def get(self, job: str) -> None:
        """A background download: ``state`` running / done (``result``) / failed (``error``)."""
        self.send_json(_jobs().status(job))


def routes(api: str) -> list[tuple[str, Any]]:
    """More specific than ``vms/{name}/{action}``: register these before :mod:`.vm_handlers`."""
    name = r"(?P<name>[^/]+)"
    snap = r"(?P<snap>[^/]+)"
    return [
        (rf"{api}/vms/{name}/(?P<action>eject|insert)", MediaHandler),
        (rf"{api}/vms/{name}/snapshots/?", SnapshotsHandler),
        (rf"{api}/vms/{name}/snapshots/{snap}/revert", SnapshotRevertHandler),
        (rf"{api}/vms/{name}/snapshots/{snap}", SnapshotHandler),
        (rf"{api}/vms/{name}/clone", CloneHandler),
        (rf"{api}/vms/{name}/?", VMEditHandler),
        (rf"{api}/storage/disks/?", DisksHandler),
        (rf"{api}/storage/disks/delete", DisksDeleteHandler),
        (rf"{api}/storage/disks/(?P<disk>[^/]+)", DiskHandler),
        (rf"{api}/osinfo/catalog", CatalogHandler),
        (rf"{api}/isos/download", DownloadHandler),
        (rf"{api}/isos/downloads/(?P<job>[0-9a-f]+)", DownloadJobHandler),
    ]
