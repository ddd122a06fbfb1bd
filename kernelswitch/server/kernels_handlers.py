"""REST: a kernel's environment — query it, compare with another, switch it.

``GET  kernels/{id}/env``                   the env record and mode the kernel runs in
``POST kernels/{id}/env {"target", "carry", "timeout", "when_idle", "carry_from"}``
    switch make-before-break; the answer is the same shape on success and on
    failure: ``{ok, env, previous, carried, not_carried, error, timings,
    changes}`` (``env`` is where the kernel runs *now*), with the error's HTTP
    status. ``when_idle`` (used by ``%pyenv switch``) answers once the new
    kernel is ready and swaps when the kernel's current cell ends;
    ``carry_from`` is a folder the old kernel already dumped its variables into.
``GET  kernels/{id}/compare?target=&notebook=``  what would change
"""

from __future__ import annotations

import asyncio
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..errors import KernelSwitchError
from ._base import KSHandler

_KID = r"(?P<kernel_id>[\w-]+)"


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
        from ..kernels._targets import resolve_target

        app = self.ks
        return await asyncio.get_running_loop().run_in_executor(
            None, lambda: resolve_target(target, app.env_roots, app.env_depth)
        )


class KernelEnvHandler(_KernelHandler):
    @web.authenticated
    @authorized
    async def get(self, kernel_id: str) -> None:
        km = self.kernel(kernel_id)
        env = self.ks.switcher.current(km)
        self.send_json({"kernel_id": kernel_id, "env": env, "mode": env["mode"]})

    @web.authenticated
    @authorized
    async def post(self, kernel_id: str) -> None:
        from ..kernels import SwitchFailed

        body = self.json_body()
        target, carry, timeout = _switch_args(body)
        when_idle, carry_from = _magic_args(body)
        km = self.kernel(kernel_id)
        switcher = self.ks.switcher
        try:
            rec = await self.target(target)
        except KernelSwitchError as e:
            env = switcher.current(km)
            err = {"code": e.code, "message": e.message}
            self.send_json(_answer(env, err), status=e.http_status)
            return
        try:
            answer = await switcher.switch(kernel_id, km, rec, carry_vars=carry, timeout=timeout,
                                           when_idle=when_idle, carry_from=carry_from)
        except SwitchFailed as e:
            self.send_json(e.answer, status=e.http_status)
            return
        answer["changes"] = await asyncio.get_running_loop().run_in_executor(
            None, _changes, answer["previous"], rec
        )
        self.send_json(answer)


def _answer(env: dict[str, Any], error: dict[str, Any]) -> dict[str, Any]:
    return {"ok": False, "env": env, "previous": env, "carried": [], "not_carried": {},
            "error": error, "timings": {}}


def _switch_args(body: dict[str, Any]) -> tuple[str, bool, float | None]:
    unknown = sorted(set(body) - {"target", "carry", "timeout", "when_idle", "carry_from"})
    if unknown:
        raise web.HTTPError(400, "unknown keys %s; a switch takes target, carry, timeout",
                            ", ".join(unknown))
    target = body.get("target")
    if not isinstance(target, str) or not target.strip() or len(target) > 4096:
        raise web.HTTPError(400, "target must be a non-empty string: an interpreter, an env "
                            "folder, 'system' or a name from GET envs")
    carry = body.get("carry", False)
    if not isinstance(carry, bool):
        raise web.HTTPError(400, "carry must be true or false")
    timeout = body.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float)
        or not 0.5 <= timeout <= 600
    ):
        raise web.HTTPError(400, "timeout must be a number of seconds between 0.5 and 600")
    return target, carry, float(timeout) if timeout is not None else None


def _magic_args(body: dict[str, Any]) -> tuple[bool, str | None]:
    import os

    when_idle = body.get("when_idle", False)
    if not isinstance(when_idle, bool):
        raise web.HTTPError(400, "when_idle must be true or false")
    carry_from = body.get("carry_from")
    if carry_from is not None and (
        not isinstance(carry_from, str)
        or not os.path.isfile(os.path.join(carry_from, "dump.json"))
    ):
        raise web.HTTPError(400, "carry_from must be a folder the kernel dumped its variables into")
    return when_idle, carry_from


def _changes(previous: dict[str, Any], target: Any) -> dict[str, Any]:
    """What a switch changed: Python version, mode, distributions gained and lost."""
    from ..envs import resolve

    try:
        prev = resolve(previous["executable"]).packages
    except KernelSwitchError:
        prev = {}
    new = target.packages
    return {
        "version": [previous.get("version"), target.version],
        "mode": [previous.get("mode"), target.mode],
        "gained": sorted(set(new) - set(prev)),
        "lost": sorted(set(prev) - set(new)),
    }


class KernelCompareHandler(_KernelHandler):
    @web.authenticated
    @authorized
    async def get(self, kernel_id: str) -> None:
        from ..envs import compare, resolve

        km = self.kernel(kernel_id)
        current = self.ks.switcher.current(km)
        target = self.get_argument("target", "")
        notebook = self.get_argument("notebook", "") or None
        rec = await self.target(target)
        loop = asyncio.get_running_loop()
        comp = await loop.run_in_executor(
            None, lambda: compare(resolve(current["executable"]), rec, notebook=notebook)
        )
        out = comp.to_json()
        out["provided_by_mode"] = _provided(rec.mode, out["missing_packages"])
        self.send_json(out)


def _provided(mode: str, missing: dict[str, str]) -> list[str]:
    """Packages overlay mode supplies from the server (not really missing)."""
    if mode != "overlay":
        return []
    from ..envs import resolve
    from ..envs._record import server_python

    server = resolve(server_python().executable)
    return sorted(n for n in missing if n in server.packages)


def routes(api: str) -> list[tuple[str, Any]]:
    return [
        (rf"{api}/kernels/{_KID}/env", KernelEnvHandler),
        (rf"{api}/kernels/{_KID}/compare", KernelCompareHandler),
    ]

