"""Where ``vm`` commands go: the :class:`VMBackend` protocol and its REST flavour.

:class:`RESTBackend` talks to the Jupyter server's REST API (the magics, or a
CLI pointed at a server); the CLI's ``LocalBackend`` (libvirt directly) lives
in :mod:`kernelswitch.cli.vm`, outside the kernel side.

Kernel side: nothing here imports ``vm/``, ``server/`` or libvirt.
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import quote

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

    def __init__(self, server: Any = None, host: str | None = None) -> None:
        self.server = server
        self.host = host

    def on_host(self, host: str) -> RESTBackend:
        """The same server, naming VMs on *host* (a libvirt URI or its alias: ``?uri=``)."""
        return RESTBackend(self.server, host)

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
        return self._req("POST", "vms", request)

    def action(self, name: str, action: str, options: dict[str, Any]) -> dict[str, Any]:
        return self._req("POST", f"vms/{quote(name, safe='')}/{action}", options)

    def delete(self, name: str, disks: bool, force: bool) -> dict[str, Any]:
        q = f"?disks={int(disks)}&force={int(force)}"
        return self._req("DELETE", f"vms/{quote(name, safe='')}{q}")

    def oses(self, query: str | None) -> OSList:
        q = f"?q={quote(query)}" if query else ""
        return self._req("GET", f"osinfo/oses{q}")["oses"]
