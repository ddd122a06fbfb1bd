"""REST: ``GET osinfo/oses[?q=]`` and ``GET osinfo/identify?path=``.

The OS list is what a user picks from when an ISO is not identified, so the
create flow never dead-ends. Both run in the bounded ``osinfo`` pool.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from .._echo import short
from .._executors import run_in
from ..vm.errors import InvalidVMSpec
from . import schemas as S
from ._base import KSHandler

#: A search is a few words; more is not a search (and costs CPU per OS).
MAX_QUERY = 200
MAX_WORDS = 8


class OSesHandler(KSHandler):
    input_error = InvalidVMSpec
    query_schema = {
        "get": {
            "type": "object",
            "properties": {
                "q": {
                    "type": "string",
                    "maxLength": MAX_QUERY,
                    "description": f"words to search for, e.g. 'fedora 37' (at most {MAX_WORDS})",
                }
            },
        }
    }
    openapi = {
        "get": {
            "summary": "The OSes the osinfo database knows (for --os), optionally searched",
            "responses": {"200": S.ok({"$ref": "#/components/schemas/OSList"}), **S.errors(400)},
        }
    }

    @web.authenticated
    @authorized
    async def get(self) -> None:
        from ..vm import osinfo

        query = self.query.get("q", "").strip() or None
        if query and len(query.split()) > MAX_WORDS:
            raise InvalidVMSpec(
                f"'q' has {len(query.split())} words; search with at most {MAX_WORDS}, "
                "e.g. 'fedora 37'.",
                details={"field": "q"},
            )
        oses, db = await run_in("osinfo", lambda: (osinfo.list_oses(query), osinfo.db_info()))
        self.send_json({"oses": [o.to_summary() for o in oses], "query": query, "db": db})


class IdentifyHandler(KSHandler):
    input_error = InvalidVMSpec
    query_schema = {
        "get": {
            "type": "object",
            "required": ["path"],
            "properties": {
                "path": {
                    "type": "string",
                    "maxLength": S.MAX_PATH,
                    "description": "absolute path of an ISO on the server host",
                }
            },
        }
    }
    openapi = {
        "get": {
            "summary": "Which OS an installer ISO holds (null when osinfo does not know it)",
            "responses": {
                "200": S.ok({"$ref": "#/components/schemas/Identified"}),
                **S.errors(400, 503),
            },
        }
    }

    @web.authenticated
    @authorized
    async def get(self) -> None:
        from ..vm import osinfo

        iso = _iso_file(self.query.get("path", "").strip())
        found = await run_in("osinfo", osinfo.identify, iso)
        self.send_json({"path": str(iso), "os": found.to_summary() if found else None})


def _iso_file(path: str) -> Path:
    """The ISO at *path*, if it names a regular file (the message says what it is if not)."""
    if not path:
        raise InvalidVMSpec("Pass the ISO to identify as ?path=/absolute/path/to.iso.")
    # os.path.expanduser leaves an unknown ~user as it is (Path.expanduser raises)
    iso = Path(os.path.expanduser(path))
    shown = short(str(iso))
    if not iso.is_absolute():
        raise InvalidVMSpec(
            f"{shown!r} is not an absolute path; pass the ISO's full path on the server host "
            "(e.g. /var/lib/libvirt/images/fedora.iso).",
            details={"field": "path"},
        )
    try:
        mode = iso.stat().st_mode
    except FileNotFoundError:
        what = "does not exist"
    except OSError as e:  # a name too long, a loop, no permission to look
        what = f"cannot be looked at ({e.strerror})"
    else:
        if stat.S_ISREG(mode):
            return iso
        what = "is a folder" if stat.S_ISDIR(mode) else "is not a regular file (a device or pipe)"
    raise InvalidVMSpec(
        f"{shown!r} {what}; pass the path of an ISO file.", details={"field": "path"}
    )


def routes(api: str) -> list[tuple[str, Any]]:
    return [(rf"{api}/osinfo/oses", OSesHandler), (rf"{api}/osinfo/identify", IdentifyHandler)]
