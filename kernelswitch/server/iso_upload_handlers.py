"""REST: upload a server ISO into a remote host's pool, as a job with progress.

``POST isos/upload {"iso": PATH, "uri": HOST}`` checks the ISO (a readable
ISO 9660 file on the server) and the host (a configured remote one), starts
the upload and answers 202 with the job and its ``Location``;
``GET isos/uploads/{job}`` says ``running`` (``done`` / ``total`` bytes),
``done`` (``path`` on the host) or ``failed`` (``error``).

Why a job and not just ``POST vms {"uri"}`` with the local path (which uploads
too): an installer ISO is gigabytes and takes minutes over SSH; the create form
shows a bar meanwhile and then creates from the uploaded path, so a create
that fails later never has to upload again (an identical ISO on the host is
reused).
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from .._executors import run_in
from ..errors import KernelSwitchError
from ..vm.errors import InvalidVMSpec, VMNotFound
from . import schemas as S
from .vm_handlers import VMBaseHandler
from .vm_manage_handlers import obj_schema

_JOB = {"type": "object", "required": ["id", "state", "done", "total"]}
#: Finished jobs are forgotten this many seconds after they end.
KEEP_FINISHED = 600.0


class UploadJobs:
    """Upload jobs of this server, by id (touched from worker threads: locked)."""

    def __init__(self) -> None:
        self._jobs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def new(self, iso: str, uri: str, total: int) -> dict[str, Any]:
        job: dict[str, Any] = {
            "id": secrets.token_hex(8), "iso": iso, "uri": uri, "state": "running",
            "done": 0, "total": total, "path": None, "error": None, "ended": None,
        }  # fmt: skip
        with self._lock:
            now = time.monotonic()
            old = [k for k, j in self._jobs.items()
                   if j["ended"] and now - j["ended"] > KEEP_FINISHED]  # fmt: skip
            for k in old:
                del self._jobs[k]
            self._jobs[job["id"]] = job
        return dict(job)

    def update(self, job_id: str, **change: Any) -> None:
        with self._lock:
            job = self._jobs[job_id]
            job.update(change)
            if change.get("state") in ("done", "failed"):
                job["ended"] = time.monotonic()

    def status(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                msg = f"There is no upload job {job_id!r} (finished ones are kept 10 min)."
                raise VMNotFound(msg, details={"job": job_id})
            return {k: v for k, v in job.items() if k != "ended"}


_UPLOADS = UploadJobs()
_RUNNING: set[asyncio.Task[None]] = set()


def _check(fleet: Any, iso: str, host: str) -> tuple[Any, str, int]:
    """(manager, real local path, size) of a valid upload request (blocking)."""
    from ..vm.hosts.create import _local_user
    from ..vm.hosts.media import check_room_for
    from ..vm.spec import check_iso

    manager = fleet.manager_for(host)
    if not manager.remote:
        raise InvalidVMSpec(
            f"{manager.alias} is this machine: its VMs read ISOs where they are, nothing is "
            "uploaded. Create the VM with the ISO's path.",
            details={"field": "uri", "uri": manager.uri},
        )
    path = check_iso(iso, _local_user(), uri=manager.uri)
    size = path.stat().st_size
    check_room_for(manager, size)
    return manager, str(path), size


class UploadHandler(VMBaseHandler):
    body_schema = {
        "post": obj_schema(
            {
                "iso": {"type": "string", "minLength": 1, "maxLength": S.MAX_PATH},
                "uri": {"type": "string", "minLength": 1, "maxLength": S.MAX_PATH},
            },
            ("iso", "uri"),
        )
    }
    openapi = {
        "post": {
            "summary": "Upload an ISO on the server into a remote host's pool: a job to "
            "poll at its Location (202)",
            "responses": {"202": S.ok(_JOB, "started"), **S.errors(400, 503, 507)},
        }
    }

    @web.authenticated
    @authorized
    async def post(self) -> None:
        from ..vm.hosts.media import upload_iso

        manager, path, size = await self.vms.aio(_check, self.vms, self.body["iso"],
                                                 self.body["uri"])  # fmt: skip
        job = _UPLOADS.new(path, manager.uri, size)

        def work() -> None:
            try:
                def sent(done: int, _total: int) -> None:
                    _UPLOADS.update(job["id"], done=done)

                remote = upload_iso(manager.storage, path, None, sent)
            except KernelSwitchError as e:
                _UPLOADS.update(job["id"], state="failed", error=e.message)
            except Exception as e:  # libvirt or OS errors: the job says them
                from ..vm.storage import is_no_space, pool_full

                why = (pool_full(e, None, manager.storage).message if is_no_space(e)
                       else f"The upload failed: {e}")  # fmt: skip
                _UPLOADS.update(job["id"], state="failed", error=why)
            else:
                _UPLOADS.update(job["id"], state="done", done=size, path=remote)

        # minutes of copying: the downloads pool, not the libvirt calls' one
        task = asyncio.get_running_loop().create_task(run_in("downloads", work))
        _RUNNING.add(task)  # a task nobody holds may be collected before it ends
        task.add_done_callback(_RUNNING.discard)
        base = self.request.path.rsplit("/", 1)[0]
        self.set_header("Location", f"{base}/uploads/{job['id']}")
        self.send_json(_UPLOADS.status(job["id"]), status=202)


class UploadJobHandler(VMBaseHandler):
    openapi = {
        "get": {
            "summary": "An ISO upload: running (done, total bytes), done (path on the host) "
            "or failed (error)",
            "responses": {"200": S.ok(_JOB), **S.errors(400, 404)},
        }
    }

    @web.authenticated
    @authorized
    async def get(self, job: str) -> None:
        self.send_json(_UPLOADS.status(job))


def routes(api: str) -> list[tuple[str, Any]]:
    return [
        (rf"{api}/isos/upload", UploadHandler),
        (rf"{api}/isos/uploads/(?P<job>[0-9a-f]+)", UploadJobHandler),
    ]
