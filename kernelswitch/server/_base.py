"""Base handler: JSON in, JSON out, errors as ``{"error": {code, message}}``."""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..errors import KernelSwitchError

#: The authorization resource every kernelswitch handler is checked against.
AUTH_RESOURCE = "kernelswitch"


class KSHandler(APIHandler):
    """Every kernelswitch REST handler derives from this.

    Verbs are ``async def`` under ``@web.authenticated`` and ``@authorized``;
    they delegate to a manager and raise :class:`KernelSwitchError` for user
    errors, which becomes a JSON error with the error's HTTP status.
    """

    auth_resource = AUTH_RESOURCE

    @property
    def ks(self) -> Any:
        """The running :class:`~kernelswitch.server.app.KernelSwitchApp`."""
        return self.settings["kernelswitch_app"]

    def json_body(self) -> dict[str, Any]:
        if not self.request.body:
            return {}
        try:
            body = json.loads(self.request.body)
        except ValueError as e:
            raise web.HTTPError(400, f"request body is not JSON: {e}") from e
        if not isinstance(body, dict):
            raise web.HTTPError(400, "request body must be a JSON object")
        return body

    def send_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        exc = exc_info[1] if exc_info else None
        if isinstance(exc, KernelSwitchError):
            body = exc.to_json()
        else:
            message = self._reason
            if isinstance(exc, web.HTTPError) and exc.log_message:
                message = exc.log_message % exc.args if exc.args else exc.log_message
            code = {401: "unauthorized", 403: "forbidden", 404: "not_found"}.get(
                status_code, "error" if status_code < 500 else "internal"
            )
            body = {"error": {"code": code, "message": message}}
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, KernelSwitchError):
            self.log.info("kernelswitch %s: %s", value.code, value.message)
            return
        super().log_exception(typ, value, tb)

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        if exc_info and isinstance(exc_info[1], KernelSwitchError):
            status_code = exc_info[1].http_status
        super().send_error(status_code, **kwargs)
