"""Environment roots on top of the defaults, and a live list.

- ``GET envs?root=DIR`` (repeatable) scans ``DIR`` too, on top of the
  configured roots, and a folder that does not exist is an error that says so
  (``%pyenv list --root DIR`` uses it). Every answer says which folders were
  scanned (``roots``).
- ``GET envs/generation`` answers the live list's generation number
  (:class:`kernelswitch.envs.EnvWatcher`): front ends poll it (cheap) and
  refetch the list when it changes, within ~2 s of a venv made or removed.
"""

from __future__ import annotations

import os
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..errors import KernelSwitchError
from . import schemas as S
from ._base import KSHandler


class RootNotFound(KernelSwitchError):
    code = "env_root_not_found"
    http_status = 404


def extra_roots(values: list[str]) -> list[str]:
    """Absolute, existing folders; a missing one raises :class:`RootNotFound`."""
    out = []
    for raw in values:
        path = os.path.abspath(os.path.expanduser(raw.strip()))
        if len(path) > S.MAX_PATH or not os.path.isdir(path):
            raise RootNotFound(
                f"{path} is not a folder; pass an existing folder to scan for environments",
                details={"field": "root", "path": path},
            )
        if path not in out:
            out.append(path)
    return out


class EnvGenerationHandler(KSHandler):
    openapi = {"get": {
        "summary": "A number that changes when environments appear or go under the roots",
        "responses": {"200": S.ok({"type": "object", "required": ["generation"]}),
                      **S.errors()},
    }}  # fmt: skip

    @web.authenticated
    @authorized
    async def get(self) -> None:
        watcher = getattr(self.ks, "env_watcher", None)
        self.send_json({
            "generation": watcher.generation if watcher is not None else 0,
            "live": watcher is not None,
        })  # fmt: skip


def routes(api: str) -> list[tuple[str, Any]]:
    return [(rf"{api}/envs/generation", EnvGenerationHandler)]
