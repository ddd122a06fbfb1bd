"""REST: ``GET envs[?refresh=1]`` — every Python environment on the machine."""

from __future__ import annotations

import asyncio
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ._base import KSHandler


class EnvsHandler(KSHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        from ..envs import discover

        refresh = self.get_argument("refresh", "0") not in ("0", "", "false")
        app = self.ks
        # Discovery reads files only, but a cold scan of a big home still takes
        # a moment: keep it off the event loop.
        result = await asyncio.get_running_loop().run_in_executor(
            None,
            lambda: discover(roots=app.env_roots, depth=app.env_depth, refresh=refresh),
        )
        self.send_json(result.to_json())


def routes(api: str) -> list[tuple[str, Any]]:
    return [(rf"{api}/envs", EnvsHandler)]
