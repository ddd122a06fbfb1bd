"""REST: ``POST envs`` — make a new environment (:mod:`kernelswitch.envs._create`);
``GET envs/interpreters`` — what a new env can be made from (a form's choices):
``{"interpreters": [{executable, version, source}], "uv": bool, "default_version"}``
(``?kernel=ID``: the default is that kernel's env's version).

Body ``{"path", "python"?, "tool"?: "venv"|"uv", "packages"?: "none"|"current"|
REQUIREMENTS_FILE, "kernel"?, "add_root"?, "dry_run"?}``. ``kernel`` names
the kernel whose env is *current* (for ``packages: "current"`` and the default
Python version; default: the server's env). ``path`` relative to the server's
root folder, or absolute; it must lie under the scanned roots unless
``add_root`` makes its parent folder one. ``dry_run`` answers the plan only.

With ``Accept: application/x-ndjson`` the answer streams, as ``envs/align``
does: ``{"type": "step", "index", "count", "command"}`` before each command,
``{"type": "output", "text"}`` lines, then one ``{"type": "result",
"returncode", "env", "plan"}`` (``env``: the new env's record, listed from
now on). Otherwise one JSON result: 201 when made, 502 with the output when a
command failed (the half-made folder stays, as the message says).
"""

from __future__ import annotations

import json
import os
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from .._executors import run_in
from ..errors import KernelSwitchError
from . import schemas as S
from ._base import KSHandler

NDJSON = "application/x-ndjson"

BODY = {
    "type": "object", "additionalProperties": False, "required": ["path"],
    "properties": {
        "path": {"type": "string", "minLength": 1, "maxLength": S.MAX_PATH,
                 "description": "the new env's folder (new or empty)"},
        "python": {"type": "string", "minLength": 1, "maxLength": S.MAX_PATH,
                   "description": "a version among the discovered interpreters (3.12) or "
                   "an interpreter's path (default: the current env's major.minor)"},
        "tool": {"enum": ["venv", "uv"], "description": "default: uv when installed"},
        "packages": {"type": "string", "minLength": 1, "maxLength": S.MAX_PATH,
                     "description": "none | current | a requirements file"},
        "kernel": {"type": "string", "maxLength": 255,
                   "description": "whose env is current (default: the server's)"},
        "add_root": {**S.FLAG, "description": "scan the new env's parent folder from now on"},
        "dry_run": {**S.FLAG, "description": "answer the plan, make nothing"},
    },
}  # fmt: skip
OPENAPI = {
    "summary": "Make a new environment with ipykernel (streams with Accept: "
               "application/x-ndjson)",
    "responses": {
        "200": S.ok({"type": "object"}, "with dry_run: the plan; with Accept: "
                    "application/x-ndjson: the stream (step, output lines, one result)"),
        "201": S.ok({"type": "object", "properties": {"env": {"$ref": "#/components/schemas/Env"},
                                                      "plan": {"type": "object"}}},
                    "made"),
        **S.errors(400, 404, 409, 422, 502),
    },
}  # fmt: skip


class CreateFailed(KernelSwitchError):
    code = "create_failed"
    http_status = 502


async def create(h: Any) -> None:
    """The body of ``POST envs`` (``h`` is the :class:`EnvsHandler`)."""
    from ..envs import resolve
    from ..envs._create import plan_create, run_create
    from ..envs._record import server_python

    body = h.json_body()
    app = h.ks
    path = os.path.expanduser(body["path"])
    if not os.path.isabs(path):  # a path of the Jupyter file browser
        path = os.path.join(h.contents_manager.root_dir, path)
    current_exe = server_python().executable
    if body.get("kernel"):
        from ..kernels import KernelNotFound

        if body["kernel"] not in h.kernel_manager:
            raise KernelNotFound(f"no running kernel {body['kernel']}; list them with "
                                 "GET /api/kernels")
        current_exe = app.switcher.current(h.kernel_manager.get_kernel(body["kernel"]))[
            "executable"]
    add_root = S.truthy(body.get("add_root", False))
    current = await run_in("files", resolve, current_exe)
    found = await run_in("files", _interpreters, list(app.env_roots), app.env_depth)
    plan = await run_in("files", lambda: plan_create(
        path, body.get("python"), body.get("tool"), body.get("packages") or "none",
        current, found, None if add_root else list(app.env_roots)))
    if S.truthy(body.get("dry_run", False)):
        h.send_json({"plan": plan.to_json()})
        return
    if add_root:
        app.add_env_root(os.path.dirname(plan.path))
    stream = NDJSON in (h.request.headers.get("Accept") or "")
    output: list[str] = []

    async def emit(text: str) -> None:
        if stream:
            h.write(json.dumps({"type": "output", "text": text}) + "\n")
            await h.flush()
        else:
            output.append(text)

    async def step(i: int, argv: list[str]) -> None:
        if stream:
            h.write(json.dumps({"type": "step", "index": i, "count": len(plan.steps),
                                "command": argv}) + "\n")

    if stream:
        h.set_header("Content-Type", NDJSON)
        h.set_header("Cache-Control", "no-cache")
    h.log.info("kernelswitch: creating %s: %s", plan.path, plan.command_text)
    code = await run_create(plan, emit, step)
    env = await run_in("files", _made, plan.executable, app)
    result = {"type": "result", "returncode": code, "env": env, "plan": plan.to_json()}
    if code != 0:
        result["error"] = {"code": CreateFailed.code, "message": (
            f"`{plan.command_text}` failed (exit code {code}); {plan.path} is left as it "
            "is: fix the cause shown above and remove or reuse the folder")}
    if stream:
        h.write(json.dumps(result) + "\n")
        h.finish()
    elif code != 0:
        h.send_json({**result, "output": "".join(output)}, status=502)
    else:
        h.send_json({**result, "output": "".join(output)}, status=201)


def _interpreters(roots: list[str], depth: int) -> Any:
    from ..envs import discover
    from ..envs._interpreters import base_interpreters
    from ..envs._listing import always_listed

    return base_interpreters([*discover(roots=roots, depth=depth).envs, *always_listed()])


def _made(executable: str, app: Any) -> dict[str, Any] | None:
    """The new env's record; the env lists rescan so it shows at once."""
    from ..envs import forget_walks, resolve

    forget_walks()
    watcher = getattr(app, "env_watcher", None)
    if watcher is not None:
        watcher.generation += 1  # front ends polling the generation refetch now
    try:
        return dict(resolve(executable).to_json())
    except KernelSwitchError:
        return None


class EnvInterpretersHandler(KSHandler):
    query_schema = {"get": {"type": "object", "properties": {
        "kernel": {"type": "string", "maxLength": 255,
                   "description": "whose env's Python is the default"}}}}  # fmt: skip
    openapi = {"get": {
        "summary": "The interpreters a new environment can be made from",
        "responses": {"200": S.ok({"type": "object", "required": ["interpreters", "uv"]}),
                      **S.errors(400, 404)},
    }}  # fmt: skip

    @web.authenticated
    @authorized
    async def get(self) -> None:
        import shutil

        from ..envs._record import server_python

        app = self.ks
        version = server_python().version
        kid = self.query.get("kernel")
        if kid:
            from ..kernels import KernelNotFound

            if kid not in self.kernel_manager:
                raise KernelNotFound(f"no running kernel {kid}; list them with GET /api/kernels")
            try:
                version = app.switcher.current(self.kernel_manager.get_kernel(kid))["version"]
            except KernelSwitchError:  # not a Python kernel: the server's version
                pass
        found = await run_in("files", _interpreters, list(app.env_roots), app.env_depth)
        self.send_json({"interpreters": [i.to_json() for i in found],
                        "uv": shutil.which("uv") is not None, "default_version": version,
                        "roots": list(app.env_roots)})


def routes(api: str) -> list[tuple[str, Any]]:
    return [(rf"{api}/envs/interpreters", EnvInterpretersHandler)]
