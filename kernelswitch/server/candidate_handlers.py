"""REST: ``kernels/{id}/candidate`` — a kernel pre-started in the env the user
selected, so Apply only swaps (:mod:`kernelswitch.kernels._pool`).

``POST {"target"}`` starts it in the background and answers 202 with
``{"kernel_id", "candidate": {state, target, pid, ready_after_s,
expires_in_s, error}}`` (``candidate: null`` when the kernel already runs in
``target``); ``GET`` answers the same (``state``: ``starting``, ``ready``,
``failed``, ``exited``; ``candidate: null`` when none waits); ``DELETE``
drops it (204). The next ``POST kernels/{id}/env`` to that target uses it.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from . import schemas as S
from .kernels_handlers import _KID, _TARGET, _KernelHandler

_CANDIDATE = {"type": "object", "required": ["kernel_id", "candidate"], "properties": {
    "kernel_id": {"type": "string"},
    "candidate": {"type": ["object", "null"], "properties": {
        "state": {"enum": ["starting", "ready", "failed", "exited"]},
        "target": {"$ref": "#/components/schemas/Env"},
        "pid": {"type": ["integer", "null"]},
        "ready_after_s": {"type": ["number", "null"]},
        "expires_in_s": {"type": "number"},
        "error": {"type": ["object", "null"]},
    }},
}}  # fmt: skip


class KernelCandidateHandler(_KernelHandler):
    body_schema = {"post": {
        "type": "object", "additionalProperties": False, "required": ["target"],
        "properties": {"target": _TARGET},
    }}  # fmt: skip
    openapi = {
        "get": {"summary": "The kernel's pre-started candidate and whether it is ready",
                "responses": {"200": S.ok(_CANDIDATE), **S.errors(404)}},
        "post": {"summary": "Pre-start a kernel in target (the env the user selected)",
                 "responses": {"202": S.ok(_CANDIDATE, "it starts in the background"),
                               **S.errors(400, 404, 422)}},
        "delete": {"summary": "Drop the kernel's pre-started candidate",
                   "responses": {"204": {"description": "dropped (or there was none)"},
                                 **S.errors(404)}},
    }  # fmt: skip

    @property
    def pool(self) -> Any:
        return self.ks.candidates

    @web.authenticated
    @authorized
    async def get(self, kernel_id: str) -> None:
        self.kernel(kernel_id)
        self.send_json({"kernel_id": kernel_id, "candidate": self.pool.describe(kernel_id)})

    @web.authenticated
    @authorized
    async def post(self, kernel_id: str) -> None:
        km = self.kernel(kernel_id)
        rec = await self.target(self.json_body()["target"])
        cand = await self.pool.start(kernel_id, km, rec)
        self.send_json({"kernel_id": kernel_id, "candidate": cand}, status=202)

    @web.authenticated
    @authorized
    async def delete(self, kernel_id: str) -> None:
        self.kernel(kernel_id)
        await self.pool.drop(kernel_id, "asked to (DELETE)")
        self.set_status(204)
        self.finish()


def routes(api: str) -> list[tuple[str, Any]]:
    return [(rf"{api}/kernels/{_KID}/candidate", KernelCandidateHandler)]
