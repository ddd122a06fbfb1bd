"""REST: ``POST envs`` makes one (:mod:`.envs_create`);
``GET envs[?refresh=1&notebook=PATH&kernel=ID]`` — every Python
environment on the machine, the server's own and the system interpreter always
among them, each with a ``label``, a ``short_path`` and, given a notebook,
``recommended`` (see :mod:`kernelswitch.envs._listing`); given a kernel id,
the env that kernel runs in has ``current: true``.

A scan runs in the bounded ``files`` pool and at most one runs at a time:
requests that arrive meanwhile join it. Every request answers within the
scan's budget plus :data:`GRACE` seconds: when the scan is not done by then
(slow storage), the answer is the last complete list with ``partial: true``
and the ``reason``, and the scan finishes in the background for the next
caller. No request ever waits on a lock.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from .._executors import run_in
from . import envs_create
from . import schemas as S
from ._base import KSHandler

#: Seconds past the scan's own budget a request waits before answering partial.
GRACE = 2.0


class EnvScans:
    """One environment scan at a time per server; late requests join it."""

    def __init__(self) -> None:
        self._running: asyncio.Future[dict[str, Any]] | None = None
        self._last: dict[str, Any] | None = None

    async def get(self, roots: list[str], depth: int, refresh: bool) -> dict[str, Any]:
        from ..envs import DEFAULT_BUDGET, discover

        if self._running is None or self._running.done():
            # a refresh joining a scan that is already running gets that scan: it is new
            self._running = asyncio.ensure_future(
                run_in("files", self._scan, discover, roots, depth, refresh, DEFAULT_BUDGET)
            )
        try:
            return await asyncio.wait_for(asyncio.shield(self._running), DEFAULT_BUDGET + GRACE)
        except asyncio.TimeoutError:
            last = self._last or {"envs": [], "errors": [], "server": {}}
            return {
                **last,
                "partial": True,
                "reason": (
                    f"the environment scan did not finish within {DEFAULT_BUDGET + GRACE:g} s "
                    "(slow or stuck storage under a scanned root?); this is the last complete "
                    "list. The scan goes on in the background: ask again shortly."
                ),
            }

    def _scan(
        self, discover: Any, roots: list[str], depth: int, refresh: bool, budget: float
    ) -> dict[str, Any]:
        result = discover(roots=roots, depth=depth, budget=budget, refresh=refresh).to_json()
        if not result["partial"]:
            self._last = result
        return result


class EnvsHandler(KSHandler):
    body_schema = {"post": envs_create.BODY}
    query_schema = {"get": {"type": "object", "properties": {
        "refresh": S.QUERY_FLAG,
        # repeatable; read with get_query_arguments (see envs_extra)
        "root": {"type": "string", "maxLength": S.MAX_PATH,
                 "description": "also scan this folder (repeat for more)"},
        "notebook": {"type": "string", "maxLength": S.MAX_PATH,
                     "description": "mark the envs in this notebook's folder or project "
                     "recommended (a path of the file browser, or absolute)"},
        "kernel": {"type": "string", "maxLength": 255,
                   "description": "mark the env this kernel runs in current"},
    }}}  # fmt: skip
    openapi = {
        "get": {
            "summary": "Every Python environment on the machine (files only, bounded time)",
            "responses": {
                "200": S.ok({"$ref": "#/components/schemas/EnvList"}),
                **S.errors(400, 404),  # 404: a ?root= that is not a folder
            },
        },
        "post": envs_create.OPENAPI,
    }

    @property
    def scans(self) -> EnvScans:
        return self.settings.setdefault("kernelswitch_env_scans", EnvScans())

    @web.authenticated
    @authorized
    async def get(self) -> None:
        from .envs_extra import extra_roots

        refresh = S.truthy(self.query.get("refresh", "0"))
        app = self.ks
        roots = list(app.env_roots)
        extra = [r for r in extra_roots(self.get_query_arguments("root")) if r not in roots]
        if extra:  # a one-off scan with more roots: not the shared one
            from ..envs import DEFAULT_BUDGET, discover

            roots += extra
            result = await run_in("files", lambda: discover(
                roots=roots, depth=app.env_depth, budget=DEFAULT_BUDGET, refresh=refresh
            ).to_json())
        else:
            result = await self.scans.get(roots, app.env_depth, refresh)
        notebook = self.query.get("notebook") or None
        if notebook and not os.path.isabs(notebook):  # a path of the Jupyter file browser
            notebook = os.path.join(self.contents_manager.root_dir, notebook)
        current = self._current(self.query.get("kernel") or None)
        # not in the files pool: a scan stuck on slow storage may hold it (and the
        # probe cache); _present waits for neither, the list answers in its budget
        envs = await asyncio.to_thread(_present, result["envs"], notebook, current,
                                       0.0 if result.get("partial") else 2.0)
        self.send_json({**result, "envs": envs, "roots": roots})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        await envs_create.create(self)  # a new env (issue 20)

    def _current(self, kernel_id: str | None) -> dict[str, Any] | None:
        if kernel_id is None:
            return None
        from ..kernels import KernelNotFound

        if kernel_id not in self.kernel_manager:
            raise KernelNotFound(f"no running kernel {kernel_id}; list them with GET /api/kernels")
        from ..errors import KernelSwitchError

        try:
            return self.ks.switcher.current(self.kernel_manager.get_kernel(kernel_id))
        except KernelSwitchError:  # not a Python kernel: no env is current, the list stands
            return None


def _present(envs: list[dict[str, Any]], notebook: str | None,
             current: dict[str, Any] | None, wait: float) -> list[dict[str, Any]]:
    """Copies (the scan's list is shared) with what a picker needs added."""
    from ..envs._listing import always_listed, merge, present

    out = merge([dict(e) for e in envs], always_listed(wait))
    if current is not None:
        from ..envs._listing import same_file

        cur = current.get("executable")
        for e in out:
            e["current"] = e["prefix"] == current.get("prefix") and (
                e["kind"] != "system" or same_file(e.get("executable"), cur))
    return present(out, notebook)


def routes(api: str) -> list[tuple[str, Any]]:
    return [(rf"{api}/envs", EnvsHandler)]
