"""Where ``vm`` commands go: the :class:`VMBackend` protocol and its REST flavour.

:class:`RESTBackend` talks to the Jupyter server's REST API (the magics, or a
CLI pointed at a server); the CLI's ``LocalBackend`` (libvirt directly) lives
in :mod:`kernelswitch.cli.vm`, outside the kernel side.

A create on another host (``--host``) from an ISO on the server goes as the
create form does it: ``POST vmspec`` checks the request first (one that would
fail goes to ``POST vms`` as it is, for the create's own error, given before
anything is uploaded), then the ISO is uploaded as a job
(``POST isos/upload``, polled at ``GET isos/uploads/{job}``, progress told to
:attr:`RESTBackend.upload_progress`) and the VM is made from the uploaded path
with the OS identified from the server's file. Why not let ``POST vms`` upload
it: a multi-GB ISO takes minutes over SSH, and that request says nothing
until it ends.

Kernel side: nothing here imports ``vm/``, ``server/`` or libvirt.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import quote

from .client import APIError
from .vm_manage_grammar import RESTManage
from .vm_reach_grammar import RESTReach

__all__ = ["OSList", "RESTBackend", "VMBackend"]

#: OS summaries (``short_id``, ``name``, ...); a name, since the backends' ``list``
#: method shadows the builtin inside their class bodies.
OSList = list[dict[str, Any]]


class VMBackend(Protocol):
    """Where ``vm`` commands go. Answers are the REST API's JSON bodies."""

    def list(self) -> list[dict[str, Any]]: ...

    def info(self, name: str) -> dict[str, Any]: ...

    def create(self, request: dict[str, Any]) -> dict[str, Any]: ...

    def action(self, name: str, action: str, options: dict[str, Any]) -> dict[str, Any]: ...

    def delete(self, name: str, disks: bool, force: bool) -> dict[str, Any]: ...

    def oses(self, query: str | None) -> OSList: ...


class RESTBackend(RESTManage, RESTReach):
    """Talks to the Jupyter server's REST API (the magics, or a remote CLI)."""

    #: Set by a caller that shows an ISO upload's progress: ``(label, done, total)``.
    upload_progress: Callable[[str, int, int], None] | None = None

    def __init__(self, server: Any = None, host: str | None = None) -> None:
        self.server = server
        self.host = host

    def on_host(self, host: str) -> RESTBackend:
        """The same server, naming VMs on *host* (a libvirt URI or its alias: ``?uri=``)."""
        other = RESTBackend(self.server, host)
        other.upload_progress = self.upload_progress
        other.download_progress = self.download_progress
        return other

    def _req(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        from .client import request

        if self.host and path.startswith("vms/"):
            path += ("&" if "?" in path else "?") + f"uri={quote(self.host, safe='')}"
        return request(method, path, body, server=self.server)

    def list(self) -> list[dict[str, Any]]:
        return self._req("GET", "vms")["vms"]

    def info(self, name: str) -> dict[str, Any]:
        return self._req("GET", f"vms/{quote(name, safe='')}")

    def create(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("uri") and request.get("iso"):
            request = self._upload_first(request)
        return self._req("POST", "vms", request)

    def _upload_first(self, request: dict[str, Any]) -> dict[str, Any]:
        """*request* with its ISO uploaded to the remote host it names, when it is a
        server file there (else as it is); raises what a create would say, before
        anything is uploaded."""
        checked = self._req("POST", "vmspec", request)
        if not checked.get("remote") or checked.get("in_pool") or checked.get("errors"):
            # a local host reads the ISO where it is, a pool ISO is there; a request with
            # errors gets the create's own answer (it checks before it uploads anything)
            return request
        os_id = request.get("os") or (checked.get("os") or {}).get("short_id")
        path = self._upload(str(request["iso"]), str(checked.get("uri") or request["uri"]))
        return {**request, "iso": path, **({"os": os_id} if os_id else {})}

    def _upload(self, iso: str, uri: str) -> str:
        """The ISO's path on host *uri* after an upload job (polled twice a second)."""
        import time

        job = self._req("POST", "isos/upload", {"iso": iso, "uri": uri})
        label = f"Uploading {iso.rsplit('/', 1)[-1]}"
        while True:
            if self.upload_progress is not None:
                self.upload_progress(label, int(job.get("done") or 0), int(job.get("total") or 0))
            if job["state"] == "done":
                return str(job["path"])
            if job["state"] == "failed":
                raise APIError(f"{job.get('error') or 'The upload failed.'} No VM was created.",
                               code="upload_failed", status=502, details={"iso": iso})
            time.sleep(0.5)
            job = self._req("GET", f"isos/uploads/{job['id']}")

    def action(self, name: str, action: str, options: dict[str, Any]) -> dict[str, Any]:
        return self._req("POST", f"vms/{quote(name, safe='')}/{action}", options)

    def delete(self, name: str, disks: bool, force: bool) -> dict[str, Any]:
        q = f"?disks={int(disks)}&force={int(force)}"
        return self._req("DELETE", f"vms/{quote(name, safe='')}{q}")

    def oses(self, query: str | None) -> OSList:
        q = f"?q={quote(query)}" if query else ""
        return self._req("GET", f"osinfo/oses{q}")["oses"]
