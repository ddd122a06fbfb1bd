"""URL table of the REST API; each subsystem contributes its handlers."""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ._base import KSHandler

API = r"/kernelswitch/api"


class NotFoundHandler(KSHandler):
    """Unknown API paths get the API's JSON error, not Jupyter's HTML page."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        raise web.HTTPError(404, f"no kernelswitch API at {self.request.path}")

    post = put = patch = delete = get


def handlers() -> list[tuple[str, Any]]:
    from .candidate_handlers import routes as candidate_routes
    from .console_handlers import routes as console_routes
    from .envs_align import routes as env_align_routes
    from .envs_create import routes as env_create_routes
    from .envs_extra import routes as env_extra_routes
    from .envs_handlers import routes as env_routes
    from .events_handlers import routes as events_routes
    from .iso_handlers import routes as iso_routes
    from .iso_upload_handlers import routes as iso_upload_routes
    from .kernels_handlers import routes as kernel_routes
    from .openapi import routes as openapi_routes
    from .osinfo_handlers import routes as osinfo_routes
    from .reach_handlers import routes as reach_routes
    from .vm_form_handlers import routes as vm_form_routes
    from .vm_handlers import routes as vm_routes
    from .vm_manage_handlers import routes as vm_manage_routes

    out: list[tuple[str, Any]] = []
    out += env_extra_routes(API)  # envs/generation before anything under envs
    out += env_align_routes(API)
    out += env_create_routes(API)  # envs/interpreters
    out += env_routes(API)
    out += events_routes(API)  # events, vms/{name}/thumbnail
    out += vm_manage_routes(API)  # before vm_routes: more specific paths
    out += iso_routes(API)
    out += iso_upload_routes(API)  # isos/upload before vm_form's isos
    out += vm_form_routes(API)  # vmspec, isos
    out += console_routes(API)
    out += reach_routes(API)  # serial, shares, forwards
    out += vm_routes(API)
    out += osinfo_routes(API)
    out += openapi_routes(API)
    out += kernel_routes(API)
    out += candidate_routes(API)
    # last: anything else under the API is a JSON 404, like every other error
    out.append((rf"{API}/.*", NotFoundHandler))
    return out
