"""REST: the ISO catalogue and downloads.

``GET osinfo/catalog[?q=]`` (install media libosinfo knows), ``POST
isos/download`` (now: 201 and the result; with ``background``: 202 and a job),
``GET isos/downloads/{job}`` (a job's progress, for ``%vm download``'s bar).

Downloads are host work, not a VM's: they take no per-VM lock; one job per
medium runs at a time (:class:`~kernelswitch.vm.download.DownloadJobs`).
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from .._executors import run_in
from . import schemas as S
from .vm_handlers import VMBaseHandler
from .vm_manage_handlers import listing_schema, obj_schema

_JOB = {"type": "object", "required": ["id", "os", "state", "done"]}


class CatalogHandler(VMBaseHandler):
    query_schema = {
        "get": {"type": "object", "properties": {"q": {"type": "string", "maxLength": 200}}}
    }
    openapi = {
        "get": {
            "summary": "Install media libosinfo knows (OS, version, arch, URL), searchable",
            "responses": {
                "200": S.ok(listing_schema("media", {"type": "object"})),
                **S.errors(400),
            },
        }
    }

    @web.authenticated
    @authorized
    async def get(self) -> None:
        query = (self.query.get("q") or "").strip() or None
        media = await run_in("osinfo", self.vms.catalog, query)
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
    body_schema = {
        "post": obj_schema(
            {
                "os": {"type": "string", "minLength": 1, "maxLength": 128},
                "arch": {"type": "string", "minLength": 1, "maxLength": 32},
                "index": {"type": "integer", "minimum": 0, "maximum": 10000},
                "sha256": {"type": "string", "minLength": 1, "maxLength": 128},
                "background": {"type": "boolean"},
            },
            ("os",),
        )
    }
    openapi = {
        "post": {
            "summary": "Download an OS's install ISO into the ISO folder (201); with "
            "background, start a job to poll at its Location (202)",
            "responses": {
                "201": S.ok({"type": "object", "required": ["path", "size"]}, "downloaded"),
                "202": S.ok(_JOB, "started"),
                **S.errors(400, 502),
            },
        }
    }

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Download now (201 + the result), or with ``background`` start a job (202)."""
        body = dict(self.body)
        if body.pop("background", False):
            os_id = body.pop("os")
            job = await run_in("osinfo", _jobs().start, os_id, **body)
            base = self.request.path.rsplit("/", 1)[0]
            self.set_header("Location", f"{base}/downloads/{job['id']}")
            self.send_json(job, status=202)
            return
        # Gigabytes take minutes: their own pool, no call deadline (offline fails fast).
        self.send_json(await run_in("downloads", self.vms.download, **body), status=201)


class DownloadJobHandler(VMBaseHandler):
    openapi = {
        "get": {
            "summary": "A background download: running (done, total bytes), done (result) "
            "or failed (error)",
            "responses": {"200": S.ok(_JOB), **S.errors(400, 404)},
        }
    }

    @web.authenticated
    @authorized
    async def get(self, job: str) -> None:
        self.send_json(_jobs().status(job))


def routes(api: str) -> list[tuple[str, Any]]:
    return [
        (rf"{api}/osinfo/catalog", CatalogHandler),
        (rf"{api}/isos/download", DownloadHandler),
        (rf"{api}/isos/downloads/(?P<job>[0-9a-f]+)", DownloadJobHandler),
    ]
