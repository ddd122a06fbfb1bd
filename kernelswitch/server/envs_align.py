"""REST: ``POST envs/align`` — install into a target what the notebook imports
and the target lacks (the picker's third step; :mod:`kernelswitch.envs._align`).

``{"target", "notebook" | "imports", "kernel"?, "confirm": false}`` answers the
plan: ``{target, tool, command, command_text, installs, unmapped,
pip_missing, hint?}``. ``"confirm": true`` runs it; with ``Accept:
application/x-ndjson`` the answer streams ``{"type": "output", "text"}``
lines, then one ``{"type": "result", "installed", "unmapped",
"returncode"}``; otherwise that result comes as one JSON object.

The *current* env (whose distributions and versions are copied) is the
kernel's when ``kernel`` is given, else the server's own.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from .._executors import run_in
from ..errors import KernelSwitchError
from . import schemas as S
from ._base import KSHandler

NDJSON = "application/x-ndjson"


class PipMissing(KernelSwitchError):
    code = "pip_missing"
    http_status = 422


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class EnvAlignHandler(KSHandler):
    body_schema = {"post": {
        "type": "object", "additionalProperties": False, "required": ["target"],
        "properties": {
            "target": {"type": "string", "minLength": 1, "maxLength": S.MAX_PATH,
                       "description": "an interpreter, an env folder, 'system', or a name"},
            "notebook": {"type": "string", "maxLength": S.MAX_PATH,
                         "description": "read the imports from this notebook"},
            "imports": {"type": "array", "maxItems": 500,
                        "items": {"type": "string", "pattern": r"^[A-Za-z_]\w*$",
                                  "maxLength": 200}},
            "kernel": {"type": "string", "maxLength": 255,
                       "description": "copy from this kernel's env (default: the server's)"},
            "confirm": {**S.FLAG, "description": "run the command (false: only show it)"},
        },
    }}  # fmt: skip
    openapi = {"post": {
        "summary": "Install into target the distributions of the imports it lacks, at the "
                   "current env's versions (shows the command; runs it with confirm)",
        "responses": {"200": S.ok({"type": "object", "properties": {
            "tool": {"enum": ["pip", "uv"]}, "command": {"type": "array"},
            "command_text": {"type": "string"}, "installs": {"type": "array"},
            "unmapped": {"type": "array"}, "pip_missing": {"type": "boolean"},
            "hint": {"type": "string"}, "installed": {"type": "array"},
            "returncode": {"type": "integer"}}},
            "the plan; with confirm the result (or an NDJSON stream of output lines "
            "and one result line, when asked with Accept: application/x-ndjson)"),
            **S.errors(400, 404, 422, 502)},
    }}  # fmt: skip

    @web.authenticated
    @authorized
    async def post(self) -> None:
        from ..envs import notebook_imports, resolve
        from ..envs._align import plan_align, run_align
        from ..envs._record import server_python
        from ..envs._targets import resolve_target

        body = self.json_body()
        if ("notebook" in body) == ("imports" in body):
            raise self.input_error("give either notebook (a .ipynb path) or imports (names)",
                                   details={"field": "notebook"})
        app = self.ks
        target = await run_in("files", resolve_target, body["target"], app.env_roots,
                              app.env_depth)
        current_exe = server_python().executable
        if body.get("kernel"):
            from ..kernels import KernelNotFound

            if body["kernel"] not in self.kernel_manager:
                raise KernelNotFound(f"no running kernel {body['kernel']}; list them with "
                                     "GET /api/kernels")
            km = self.kernel_manager.get_kernel(body["kernel"])
            current_exe = app.switcher.current(km)["executable"]
        nb_dir = None
        imports: list[str] = list(body.get("imports") or [])
        if "imports" not in body:
            nb = body["notebook"]
            if not os.path.isabs(nb):  # a path of the Jupyter file browser
                nb = os.path.join(self.contents_manager.root_dir, nb)
            imports = await run_in("files", notebook_imports, nb)
            nb_dir = os.path.dirname(nb)
        current = await run_in("files", resolve, current_exe)
        plan = await run_in("files", plan_align, current, target, imports, nb_dir)
        if not S.truthy(body.get("confirm", False)):
            self.send_json(plan.to_json())
            return
        if plan.installs and not plan.steps:
            raise PipMissing(plan.hint or "the target has no pip", details={
                "path": target.prefix})
        stream = NDJSON in (self.request.headers.get("Accept") or "")
        output: list[str] = []

        async def emit(text: str) -> None:
            if stream:
                self.write(json.dumps({"type": "output", "text": text}) + "\n")
                await self.flush()
            else:
                output.append(text)

        if stream:
            self.set_header("Content-Type", NDJSON)
            self.set_header("Cache-Control", "no-cache")
        code = await run_align(plan, emit)
        after = await run_in("files", resolve, target.executable or target.prefix)
        have = {_norm(n) for n in after.packages}
        result = {
            "type": "result",
            "installed": [i for i in plan.installs if _norm(i["distribution"]) in have],
            "unmapped": plan.unmapped,
            "returncode": code,
            "command_text": plan.command_text,
            "target": after.to_json(),
        }
        if stream:
            self.write(json.dumps(result) + "\n")
            self.finish()
        else:
            self.send_json({**result, "output": "".join(output)})


def routes(api: str) -> list[tuple[str, Any]]:
    return [(rf"{api}/envs/align", EnvAlignHandler)]
