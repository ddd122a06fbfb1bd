"""Base handler: JSON in, JSON out, errors as ``{"error": {code, message}}``.

How a handler checks its input (before its verb runs, after authentication):

.. code-block:: python

    class SnapshotsHandler(KSHandler):
        input_error = InvalidVMSpec          # the 4xx error class schema failures raise
        body_schema = {"post": {             # JSON Schema of each verb's body
            "type": "object", "additionalProperties": False,
            "properties": {"name": {"type": "string", "maxLength": 64}},
            "required": ["name"]}}
        query_schema = {"get": {"type": "object", "properties": {
            "q": {"type": "string", "maxLength": 200}}}}
        openapi = {"post": {"summary": "Take a snapshot", "responses": {...}}}

        @web.authenticated
        @authorized
        async def post(self, name: str) -> None:
            snap = self.body["name"]          # already parsed and validated
            ...

``prepare()`` refuses, with a 4xx JSON error naming the field: a body over
``max_body`` bytes, one nested deeper than :data:`~._validate.MAX_DEPTH`, a
string over :data:`~._validate.MAX_STRING`, NaN/Infinity or an overflowing
number, anything the verb's schema rejects, and a URL path argument with a
control character or over 255 characters. Verbs without a schema still get
the size/nesting/number limits through :meth:`KSHandler.json_body`. The same
``body_schema`` / ``query_schema`` / ``openapi`` attributes feed the OpenAPI
document (:mod:`.openapi`), so the contract cannot drift from the checks.

An unexpected exception is still a bug: it answers a JSON 500 whose
``error.id`` is also in the log line with the traceback.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, ClassVar

from jupyter_core.utils import ensure_async
from jupyter_server.auth.utils import HTTP_METHOD_TO_AUTH_ACTION
from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..errors import KernelSwitchError
from ._validate import MAX_BODY, InvalidRequest, check, check_path_arg, parse_body, short

#: The authorization resource every kernelswitch handler is checked against.
AUTH_RESOURCE = "kernelswitch"
#: Characters of a URI or header a log line repeats.
LOG_ECHO_LIMIT = 300
#: Query arguments Jupyter itself reads on any request (auth), never "unknown".
JUPYTER_QUERY_ARGS = frozenset({"token", "_xsrf"})
#: ``?uri=`` (a configured libvirt URI or its host alias) names the host of VM ``{name}``.
HOST_ARG = "uri"


def vm_ref(handler: Any, name: str) -> str:
    """VM *name* on the host ``?uri=`` names (a :func:`~kernelswitch.vm.hosts.refs.ref`)."""
    host = handler.get_query_argument(HOST_ARG, None)
    if not host:
        return name
    from ..vm.hosts.refs import ref

    fleet = handler.settings["kernelswitch_app"].vm_manager
    return ref(name, fleet.manager_for(host).uri)


def _cache_buster(key: str) -> bool:
    """JupyterLab's ``ServerConnection.makeRequest`` appends ``?<milliseconds>``
    to every GET it sends, so a bare number of a key is not the user's input."""
    return key.isdigit() and len(key) <= 20


_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


class KSHandler(APIHandler):
    """Every kernelswitch REST handler derives from this.

    Verbs are ``async def`` under ``@web.authenticated`` and ``@authorized``;
    they delegate to a manager and raise :class:`KernelSwitchError` for user
    errors, which becomes a JSON error with the error's HTTP status.
    """

    auth_resource = AUTH_RESOURCE

    #: JSON Schema of the request body, per lower-case verb (``"post"``).
    body_schema: ClassVar[dict[str, dict[str, Any]]] = {}
    #: JSON Schema of the query arguments (an object of strings), per verb.
    query_schema: ClassVar[dict[str, dict[str, Any]]] = {}
    #: OpenAPI operation fields per verb (summary, responses, ...).
    openapi: ClassVar[dict[str, dict[str, Any]]] = {}
    #: Largest request body accepted, in bytes.
    max_body: ClassVar[int] = MAX_BODY
    #: What a request that breaks a schema raises (a 4xx KernelSwitchError).
    input_error: ClassVar[type[KernelSwitchError]] = InvalidRequest

    body: Any = None
    query: dict[str, str]

    @property
    def ks(self) -> Any:
        """The running :class:`~kernelswitch.server.app.KernelSwitchApp`."""
        return self.settings["kernelswitch_app"]

    # ------------------------------------------------------------ input

    async def prepare(self) -> None:  # type: ignore[override]
        credential = self.settings.get("kernelswitch_kernel_credential")
        if credential is not None:  # a kernel's own calls (kernel_auth.py says why)
            credential.authenticate(self)
        await super().prepare()
        self.query = {}
        # Unauthenticated or unauthorized requests are refused by the verb's
        # decorators with 403; only a caller who may act learns about input.
        if not await self._may_act():
            return
        for key, value in (self.path_kwargs or {}).items():
            if isinstance(value, str):
                check_path_arg(key, value, error=self.input_error)
        if isinstance((self.path_kwargs or {}).get("name"), str):
            self.path_kwargs["name"] = vm_ref(self, self.path_kwargs["name"])
        verb = self.request.method.lower() if self.request.method else ""
        qschema = self.query_schema.get(verb)
        if qschema is not None:
            self.query = self._query_args(qschema)
            check(self.query, qschema, "query", error=self.input_error)
        bschema = self.body_schema.get(verb)
        if bschema is not None:
            self.body = parse_body(self.request.body, self.max_body, error=self.input_error)
            check(self.body, bschema, "body", error=self.input_error)

    async def _may_act(self) -> bool:
        user = self.current_user
        if not user or self.request.method not in HTTP_METHOD_TO_AUTH_ACTION:
            return False
        action = HTTP_METHOD_TO_AUTH_ACTION[self.request.method]
        return bool(
            await ensure_async(self.authorizer.is_authorized(self, user, action, AUTH_RESOURCE))
        )

    def _query_args(self, schema: dict[str, Any]) -> dict[str, str]:
        """The query arguments the schema names (last value wins, as ``get_argument``)."""
        known = schema.get("properties", {})
        unknown = sorted(k for k in self.request.query_arguments if k not in known)
        unknown = [
            k for k in unknown
            if k not in JUPYTER_QUERY_ARGS and k != HOST_ARG and not _cache_buster(k)
        ]  # fmt: skip
        if unknown:
            shown = ", ".join(repr(short(k, 40)) for k in unknown[:5])
            takes = ", ".join(known) or "no arguments"
            raise self.input_error(
                f"Unknown query arguments {shown}; this takes {takes}.",
                details={"field": "query", "unknown": [short(k, 40) for k in unknown[:5]]},
            )
        out = {}
        for key in known:
            values = self.request.query_arguments.get(key)
            if values:
                try:
                    out[key] = values[-1].decode("utf-8")
                except UnicodeDecodeError as e:
                    raise self.input_error(
                        f"The query argument '{key}' is not UTF-8 text.", details={"field": key}
                    ) from e
        return out

    def json_body(self) -> dict[str, Any]:
        """The request body as a JSON object (already checked when the verb has a schema)."""
        if self.body is None:
            self.body = parse_body(self.request.body, self.max_body, error=self.input_error)
        if not isinstance(self.body, dict):
            raise self.input_error("The request body must be a JSON object.")
        return self.body

    # ------------------------------------------------------------ output

    def send_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self._shorten_for_access_log()
        exc_info = kwargs.get("exc_info")
        exc = exc_info[1] if exc_info else None
        if isinstance(exc, KernelSwitchError):
            body = exc.to_json()
        else:
            message = self._reason
            if isinstance(exc, web.HTTPError) and exc.log_message:
                # Tornado doubles '%' in a message given without args: format undoes it
                message = exc.log_message % exc.args
            elif status_code >= 500:
                message = (
                    "kernelswitch hit an unexpected error (a bug). Please report it with "
                    "the error id; the server log has the details."
                )
            code = _CODES.get(status_code, "error" if status_code < 500 else "internal")
            body = {"error": {"code": code, "message": message}}
        error_id = getattr(self, "_ks_error_id", None)
        if status_code >= 500 and error_id:
            body["error"]["id"] = error_id
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def _shorten_for_access_log(self) -> None:
        """Jupyter's access log repeats a failed request's URI and Referer: cut them."""
        req = self.request
        if len(req.uri or "") > LOG_ECHO_LIMIT:
            req.uri = short(req.uri, LOG_ECHO_LIMIT)
        referer = req.headers.get("Referer")
        if referer and len(referer) > LOG_ECHO_LIMIT:
            req.headers["Referer"] = short(referer, LOG_ECHO_LIMIT)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, KernelSwitchError) and value.http_status < 500:
            self.log.info("kernelswitch %s: %s", value.code, short(value.message, LOG_ECHO_LIMIT))
            return
        if isinstance(value, web.HTTPError) and value.status_code < 500:
            super().log_exception(typ, value, tb)
            return
        self._ks_error_id = uuid.uuid4().hex[:12]
        if isinstance(value, KernelSwitchError):  # a known failure: no traceback needed
            self.log.warning(
                "kernelswitch %s (error id %s) on %s %s: %s",
                value.code,
                self._ks_error_id,
                self.request.method,
                short(self.request.path, LOG_ECHO_LIMIT),
                short(value.message, LOG_ECHO_LIMIT),
            )
            return
        self.log.error(
            "kernelswitch internal error (error id %s) on %s %s",
            self._ks_error_id,
            self.request.method,
            short(self.request.path, LOG_ECHO_LIMIT),
            exc_info=(typ, value, tb),
        )

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        if exc_info and isinstance(exc_info[1], KernelSwitchError):
            status_code = exc_info[1].http_status
        super().send_error(status_code, **kwargs)
