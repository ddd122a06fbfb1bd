"""REST: a kernel's environment — query it, compare with another, switch it.

``GET  kernels/{id}/env``                   the env record and mode the kernel runs in
``POST kernels/{id}/env {"target", "carry", "timeout", "when_idle", "carry_from"}``
    switch make-before-break; the answer is the same shape on success and on
    failure: ``{ok, env, previous, carried, not_carried, error, timings,
    changes}`` (``env`` is where the kernel runs *now*), with the error's HTTP
    status. ``when_idle`` (used by ``%pyenv switch``) answers once the new
    kernel is ready and swaps when the kernel's current cell ends;
    ``carry_from`` is a folder the old kernel already dumped its variables into;
    ``cell`` + ``drops_queued`` move the cells queued behind the asking cell
    (Run All) to the new kernel; the answer lists them as ``queued``.
``GET  kernels/{id}/compare?target=&notebook=``  what would change
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from .._executors import run_in
from ..errors import KernelSwitchError
from . import schemas as S
from ._base import KSHandler

_KID = r"(?P<kernel_id>[\w-]+)"
_TARGET = {
    "type": "string", "minLength": 1, "maxLength": S.MAX_PATH,
    "description": "an interpreter, an env folder, 'system', or a name from GET envs",
}  # fmt: skip
_ENV = {"$ref": "#/components/schemas/Env"}
_ANSWER = {
    "type": "object",
    "required": ["ok", "env", "previous", "carried", "not_carried", "error", "timings"],
    "properties": {
        "ok": {"type": "boolean"}, "env": _ENV, "previous": _ENV,
        "carried": {"type": "array", "items": {"type": "string"}},
        "not_carried": {"type": "object", "additionalProperties": {"type": "string"}},
        "error": {"type": ["object", "null"]}, "timings": {"type": "object"},
        "changes": {"type": "object"}, "pending": {"type": "boolean"},
        "prestarted": {"type": "boolean", "description": "the new kernel is the candidate "
                       "POST kernels/{id}/candidate started"},
        "queued": {"type": "array", "items": {"type": "string"}},
        "carry": {"type": "object", "description": "values carried, modules re-imported, "
                  "the rest with the reason (empty lists without carry)", "properties": {
            "carried": {"type": "array", "items": {"type": "string"}},
            "reimported": {"type": "array", "items": {"type": "string"}},
            "not_carried": {"type": "array", "items": {
                "type": "object", "required": ["name", "reason"],
                "properties": {"name": {"type": "string"}, "reason": {"type": "string"}}}},
        }},
        "language_info": {"type": "object",
                          "description": "the new kernel's kernel_info_reply language_info"},
        "display": {"type": "string",
                    "description": "a kernel indicator's text: 'Python 3.12 · proj-a/.venv'"},
    },
}  # fmt: skip


class _KernelHandler(KSHandler):
    def kernel(self, kernel_id: str) -> Any:
        from ..kernels import KernelNotFound

        mkm = self.kernel_manager
        if kernel_id not in mkm:
            raise KernelNotFound(
                f"no running kernel {kernel_id}; start one, or list them with GET /api/kernels"
            )
        return mkm.get_kernel(kernel_id)

    async def target(self, target: str) -> Any:
        from ..envs._targets import resolve_target

        app = self.ks
        return await run_in("files", resolve_target, target, app.env_roots, app.env_depth)


class KernelEnvHandler(_KernelHandler):
    body_schema = {"post": {
        "type": "object", "additionalProperties": False, "required": ["target"],
        "properties": {
            "target": _TARGET,
            "carry": {**S.FLAG, "description": "take the user's variables along"},
            "timeout": {"type": "number", "minimum": 0.5, "maximum": 600,
                        "description": "seconds to wait for the new kernel"},
            "when_idle": {**S.FLAG, "description": "swap when the running cell ends "
                          "(for %pyenv switch, which asks from inside that cell)"},
            "carry_from": {"type": "string", "maxLength": S.MAX_PATH,
                           "description": "a folder the kernel dumped its variables into"},
            "cell": {"type": "string", "minLength": 1, "maxLength": 255,
                     "description": "msg_id of the cell asking (with when_idle): swap when it "
                     "ends and move the requests queued behind it to the new kernel"},
            "drops_queued": {**S.FLAG, "description": "the kernel drops the execute_requests "
                             "the answer lists as queued (they run in the new kernel)"},
        },
    }}  # fmt: skip
    openapi = {
        "get": {
            "summary": "The environment and mode a running kernel runs in",
            "responses": {"200": S.ok({"type": "object", "required": ["kernel_id", "env", "mode"],
                                       "properties": {"env": _ENV}}), **S.errors(404, 422)},
        },
        "post": {
            "summary": "Switch a running kernel to another environment (make-before-break)",
            "responses": {"200": S.ok(_ANSWER), **{
                # a failed switch answers where the kernel still runs; no such kernel,
                # the plain error
                str(c): S.ok({"anyOf": [_ANSWER, {"$ref": "#/components/schemas/Error"}]},
                             "the switch failed; env is where the kernel still runs")
                for c in (404, 409, 422, 502, 504)}, **S.errors(400)},
        },
    }  # fmt: skip

    @web.authenticated
    @authorized
    async def get(self, kernel_id: str) -> None:
        km = self.kernel(kernel_id)
        env = self.ks.switcher.current(km)
        from ..kernels._switch import display_name

        self.send_json({"kernel_id": kernel_id, "env": env, "mode": env["mode"],
                        "display": display_name({}, env),
                        # the notebook's saved env was missing at start: say so, naming it
                        "restore_error": env.get("restore_error")})

    @web.authenticated
    @authorized
    async def post(self, kernel_id: str) -> None:
        from ..kernels import SwitchFailed

        body = self.json_body()
        carry_from = body.get("carry_from")
        if carry_from is not None and not _is_carry_folder(carry_from):
            raise self.input_error(
                "carry_from must be a folder %pyenv switch --carry dumped the variables into "
                "(kernelswitch-carry-*, holding only its dump)",
                details={"field": "carry_from"},
            )
        km = self.kernel(kernel_id)
        switcher = self.ks.switcher
        try:
            rec = await self.target(body["target"])
        except KernelSwitchError as e:
            env = switcher.current(km)
            # a saved env that no longer exists: 404 env_not_found naming the path
            self.send_json(_answer(env, {"code": e.code, "message": e.message,
                                         **({"path": e.details["path"]}
                                            if "path" in (e.details or {}) else {})}),
                           status=e.http_status)
            return
        # what changes is read from files while the new kernel starts, not after
        changes = asyncio.ensure_future(run_in("files", _changes, switcher.current(km), rec))
        try:
            answer = await switcher.switch(
                kernel_id, km, rec,
                carry_vars=S.truthy(body.get("carry", False)),
                timeout=body.get("timeout"),
                when_idle=S.truthy(body.get("when_idle", False)),
                carry_from=carry_from,
                cell=body.get("cell"),
                drops_queued=S.truthy(body.get("drops_queued", False)),
            )  # fmt: skip
        except SwitchFailed as e:
            changes.cancel()
            self.send_json(e.answer, status=e.http_status)
            return
        answer["changes"] = await changes
        self.send_json(answer)


def _is_carry_folder(path: str) -> bool:
    """Only a dump folder: the switch removes it afterwards, so never anything else."""
    try:
        names = set(os.listdir(path))
    except OSError:
        return False
    return (
        os.path.isabs(path)
        and os.path.basename(path.rstrip(os.sep)).startswith("kernelswitch-carry-")
        and "dump.json" in names
        and names <= {"dump.json", "blobs.pickle", "load.json"}
    )


def _answer(env: dict[str, Any], error: dict[str, Any]) -> dict[str, Any]:
    return {"ok": False, "env": env, "previous": env, "carried": [], "not_carried": {},
            "error": error, "timings": {}}


def _changes(previous: dict[str, Any], target: Any) -> dict[str, Any]:
    """What a switch changed: Python version, mode, distributions gained and lost.

    Counted as compare counts them before the switch: the envs' own
    distributions, and what an overlay target gets from the server is
    ``from_server`` (never ``lost``).
    """
    from ..envs import resolve
    from ..envs._compare import overlay_server

    try:
        prev = dict(resolve(previous["executable"]).packages)
    except KernelSwitchError:
        prev = {}
    server = overlay_server(target)
    own = target.packages
    new = {**(server.packages if server else {}), **own}
    return {
        "version": [previous.get("version"), target.version],
        "mode": [previous.get("mode"), target.mode],
        "gained": sorted(set(new) - set(prev)),
        "lost": sorted(set(prev) - set(new)),
        "from_server": sorted(n for n in prev if n not in own and n in new),
    }


class KernelCompareHandler(_KernelHandler):
    query_schema = {"get": {
        "type": "object", "required": ["target"],
        "properties": {"target": _TARGET,
                       "notebook": {"type": "string", "maxLength": S.MAX_PATH}},
    }}  # fmt: skip
    openapi = {"get": {
        "summary": "What would change if the kernel moved to target",
        "responses": {"200": S.ok({"$ref": "#/components/schemas/Comparison"}),
                      **S.errors(400, 404, 422)},
    }}  # fmt: skip

    @web.authenticated
    @authorized
    async def get(self, kernel_id: str) -> None:
        km = self.kernel(kernel_id)
        current = self.ks.switcher.current(km)
        rec = await self.target(self.query["target"])
        notebook = self.query.get("notebook") or None
        if notebook and not os.path.isabs(notebook):  # a path of the Jupyter file browser
            notebook = os.path.join(self.contents_manager.root_dir, notebook)
        out = await run_in("files", _compare, current, rec, notebook)
        self.send_json(out)


def _compare(current: dict[str, Any], rec: Any, notebook: str | None) -> dict[str, Any]:
    from ..envs import compare, resolve

    return compare(resolve(current["executable"]), rec, notebook=notebook).to_json()


class InstallIpykernelHandler(_KernelHandler):
    """``GET`` the exact command, ``POST {"target", "confirm": true}`` to run it."""

    query_schema = {"get": {"type": "object", "required": ["target"],
                            "properties": {"target": _TARGET}}}  # fmt: skip
    body_schema = {"post": {
        "type": "object", "additionalProperties": False, "required": ["target", "confirm"],
        "properties": {"target": _TARGET, "confirm": {"const": True}},
    }}  # fmt: skip
    openapi = {
        "get": {"summary": "The command that would install ipykernel into target",
                "responses": {"200": S.ok({"type": "object"}), **S.errors(400, 404, 422)}},
        "post": {"summary": "Install ipykernel into target (the user confirmed the command)",
                 "responses": {"200": S.ok({"type": "object"}),
                               **S.errors(400, 404, 422), "502": S.ok(
                                   {"$ref": "#/components/schemas/Error"}, "pip failed")}},
    }  # fmt: skip

    @web.authenticated
    @authorized
    async def get(self) -> None:
        from ..kernels._install import command_for

        rec = await self.target(self.query["target"])
        self.send_json({"target": rec.to_json(), "command": command_for(rec)})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        from ..envs import resolve
        from ..kernels._install import install

        rec = await self.target(self.json_body()["target"])
        res = await run_in("pip", install, rec)
        after = await run_in("files", resolve, rec.executable or rec.prefix)
        self.send_json({"command": res.command, "output": res.output, "env": after.to_json()})


def routes(api: str) -> list[tuple[str, Any]]:
    return [
        (rf"{api}/kernels/{_KID}/env", KernelEnvHandler),
        (rf"{api}/kernels/{_KID}/compare", KernelCompareHandler),
        (rf"{api}/envs/install-ipykernel", InstallIpykernelHandler),
    ]
