"""URL table of the REST API; each subsystem contributes its handlers."""

from __future__ import annotations

from typing import Any

API = r"/kernelswitch/api"


def handlers() -> list[tuple[str, Any]]:
    from .envs_handlers import routes as env_routes
    from .osinfo_handlers import routes as osinfo_routes
    from .vm_handlers import routes as vm_routes

    out: list[tuple[str, Any]] = []
    out += env_routes(API)
    out += vm_routes(API)
    out += osinfo_routes(API)
    return out
