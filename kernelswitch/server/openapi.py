"""The OpenAPI 3.1 description of the REST API, served at ``kernelswitch/api/openapi.json``.

Public API (stable):

- :func:`document` ``(base_url="/") -> dict`` — built from the route table
  (:func:`~.routes.handlers`) and each handler's ``body_schema``,
  ``query_schema`` and ``openapi`` attributes: the schemas that check requests
  are the ones published, so the contract cannot drift from the code.
- :class:`OpenAPIHandler` — ``GET openapi.json``.

Websocket routes are left out (OpenAPI cannot describe them); the document's
description names them. A route whose handler has no ``openapi`` entry for a
verb is still listed (with its parameters and the error responses) and marked
``x-undocumented: true``; the contract test fuzzes documented operations only.
"""

from __future__ import annotations

import re
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web
from tornado.websocket import WebSocketHandler

from .. import __version__
from . import schemas as S
from ._base import KSHandler
from ._validate import MAX_PATH_ARG

__all__ = ["OpenAPIHandler", "document", "path_templates"]

VERBS = ("get", "post", "put", "patch", "delete")
_GROUP = re.compile(r"\(\?P<(\w+)>([^()]*)\)")
_WORDS = re.compile(r"^[\w-]+(\|[\w-]+)*$")


def path_templates(pattern: str, api: str) -> list[tuple[str, list[str], str]]:
    """``/kernelswitch/api/vms/(?P<name>[^/]+)/?`` -> ``[('/vms/{name}', ['name'], '')]``.

    A group that is an alternation of words (``(?P<action>start|stop)``) gives
    one literal path per word, so each verb keeps its own parameters and body
    schema: ``[('/vms/{name}/start', ['name'], 'start'), ...]`` (the last item
    tells operations apart). Empty for patterns that are not one resource
    (the catch-all 404).
    """
    if not pattern.startswith(api):
        return []
    rest = pattern[len(api) :]
    if rest.endswith("/?"):
        rest = rest[:-2]
    rest = rest.replace(r"\.", ".")
    params: list[str] = []
    choices: list[str] = [""]

    def group(m: re.Match[str]) -> str:
        nonlocal choices
        body = m.group(2)
        if _WORDS.match(body) and len(choices) == 1:
            choices = body.split("|")
            return "\0"  # where the word goes
        params.append(m.group(1))
        return "{" + m.group(1) + "}"

    rest = _GROUP.sub(group, rest)
    if any(c in rest for c in "()*+?[]\\^$|") or not rest:
        return []
    return [(rest.replace("\0", word), list(params), word) for word in choices]


def _implements(cls: type, verb: str) -> bool:
    method = getattr(cls, verb, None)
    return method is not None and method is not getattr(web.RequestHandler, verb, None)


def _operation(cls: type, verb: str, params: list[str], word: str) -> dict[str, Any]:
    op: dict[str, Any] = dict(getattr(cls, "openapi", {}).get(verb, {}))
    if not op:
        doc = (getattr(cls, verb).__doc__ or cls.__doc__ or "").strip().splitlines()
        op = {
            "summary": doc[0] if doc else f"{verb.upper()} ({cls.__name__})",
            "x-undocumented": True,
            "responses": {"200": {"description": "OK"}, **S.errors(400, 404, 409)},
        }
    # unique across the document: one per literal path a word alternation gives
    base = op.get("operationId") or f"{cls.__name__}.{verb}"
    op["operationId"] = f"{base}.{word}" if word else base
    # refusals any request can get (auth, body size, a bug with its error id), and a
    # bad path argument's 400
    op["responses"] = {**S.errors(*([400] if params else [])), **op.get("responses", {})}
    parameters: list[dict[str, Any]] = []
    for name in params:
        schema = {"type": "string", "minLength": 1, "maxLength": MAX_PATH_ARG}
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    query = getattr(cls, "query_schema", {}).get(verb)
    if query:
        required = set(query.get("required", ()))
        for name, schema in query.get("properties", {}).items():
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in required,
                    "schema": schema,
                    **({"description": schema["description"]} if "description" in schema else {}),
                }
            )
    if parameters:
        op["parameters"] = parameters
    body = getattr(cls, "body_schema", {}).get(verb)
    if body is not None:
        op["requestBody"] = {
            "required": bool(body.get("required")),
            "content": {"application/json": {"schema": body}},
        }
    return op


def document(base_url: str = "/") -> dict[str, Any]:
    """The whole API as OpenAPI 3.1 (paths relative to ``{base_url}kernelswitch/api``)."""
    from .routes import API, handlers

    paths: dict[str, dict[str, Any]] = {}
    for pattern, cls in handlers():
        if issubclass(cls, WebSocketHandler):
            continue  # not REST: OpenAPI cannot describe a websocket (see info.description)
        for template, params, word in path_templates(pattern, API):
            entry = paths.setdefault(template, {})
            for verb in VERBS:
                # the first route wins, as in Tornado's table
                if _implements(cls, verb) and verb not in entry:
                    entry[verb] = _operation(cls, verb, params, word)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "kernelswitch",
            "version": __version__,
            "description": (
                "VMs (libvirt/QEMU) and Python environments inside Jupyter. Errors are "
                '{"error": {"code", "message", "details"?, "id"?}}; every request needs the '
                "Jupyter token (header `Authorization: token TOKEN`). Not described here: "
                "the websockets vms/{name}/console (a VM's live console) and events "
                "(a snapshot of every VM, then one message per change)."
            ),
        },
        "servers": [{"url": f"{base_url.rstrip('/')}/kernelswitch/api"}],
        "security": [{"token": []}],
        "paths": paths,
        "components": {
            "schemas": S.COMPONENTS,
            "securitySchemes": {
                "token": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "`token <the Jupyter server's token>`",
                }
            },
        },
    }


class OpenAPIHandler(KSHandler):
    openapi = {
        "get": {
            "summary": "This document",
            "responses": {"200": S.ok({"type": "object", "required": ["openapi", "paths"]})},
        }
    }

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.send_json(document(self.base_url))


def routes(api: str) -> list[tuple[str, Any]]:
    return [(rf"{api}/openapi\.json", OpenAPIHandler)]
