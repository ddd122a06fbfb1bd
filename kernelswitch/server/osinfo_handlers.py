"""REST: ``GET osinfo/oses[?q=]`` and ``GET osinfo/identify?path=``.

The OS list is what a user picks from when an ISO is not identified, so the
create flow never dead-ends.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..vm.errors import InvalidVMSpec
from ._base import KSHandler


class OSesHandler(KSHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        from ..vm import osinfo

        query = self.get_argument("q", "").strip() or None
        oses, db = await asyncio.get_running_loop().run_in_executor(
            None, lambda: (osinfo.list_oses(query), osinfo.db_info())
        )
        self.send_json({"oses": [o.to_summary() for o in oses], "query": query, "db": db})


class IdentifyHandler(KSHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        from ..vm import osinfo

        path = self.get_argument("path", "").strip()
        if not path:
            raise InvalidVMSpec("Pass the ISO to identify as ?path=/absolute/path/to.iso.")
        iso = Path(path).expanduser()
        if not iso.is_file():
            what = "is a folder" if iso.is_dir() else "does not exist"
            raise InvalidVMSpec(f"{str(iso)!r} {what}; pass the path of an ISO file.")
        found = await osinfo.identify_async(iso)
        self.send_json({"path": str(iso), "os": found.to_summary() if found else None})


def routes(api: str) -> list[tuple[str, Any]]:
    return [(rf"{api}/osinfo/oses", OSesHandler), (rf"{api}/osinfo/identify", IdentifyHandler)]
