"""The OpenAPI document: served, valid, and covering every route of the API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openapi_spec_validator import validate
from support.jp import ks_server_config
from tornado.websocket import WebSocketHandler

pytestmark = pytest.mark.server


@pytest.fixture
def jp_server_config() -> dict:
    return ks_server_config(libvirt_uris=["test:///default"])


async def test_served_document_is_valid_openapi(jp_fetch: Any, jp_base_url: str) -> None:
    resp = await jp_fetch("kernelswitch", "api", "openapi.json")
    doc = json.loads(resp.body)
    validate(doc)  # raises with the offending part when the document is not OpenAPI 3.1
    assert doc["openapi"] == "3.1.0"
    assert doc["servers"] == [{"url": f"{jp_base_url.rstrip('/')}/kernelswitch/api"}]


def test_every_route_is_described_with_the_schemas_that_check_it() -> None:
    from kernelswitch.server.openapi import document, path_templates
    from kernelswitch.server.routes import API, handlers
    from kernelswitch.server.vm_handlers import ACTIONS, CREATE_SCHEMA, SHUTDOWN_SCHEMA

    doc = document()
    rest = [(p, cls) for p, cls in handlers() if not issubclass(cls, WebSocketHandler)]
    templates = {t for p, _ in rest for t, _params, _word in path_templates(p, API)}
    assert templates == set(doc["paths"])
    assert "vms/{name}/console" in doc["info"]["description"]  # the websocket, named
    # the document publishes the very schemas the handlers validate with
    create = doc["paths"]["/vms"]["post"]["requestBody"]["content"]["application/json"]
    assert create["schema"] is CREATE_SCHEMA
    shutdown = doc["paths"]["/vms/{name}/shutdown"]["post"]["requestBody"]
    assert shutdown["content"]["application/json"]["schema"] is SHUTDOWN_SCHEMA
    for action in ACTIONS:  # one literal path per run verb, each its own operation
        assert "post" in doc["paths"][f"/vms/{{name}}/{action}"]
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    for path, ops in doc["paths"].items():
        for verb, op in ops.items():
            assert "500" in op["responses"] and "403" in op["responses"], (path, verb)
            if "{" in path:
                assert "400" in op["responses"], (path, verb)  # a bad path argument


def test_paths_from_route_patterns() -> None:
    from kernelswitch.server.openapi import path_templates

    api = "/kernelswitch/api"
    assert path_templates(f"{api}/vms/?", api) == [("/vms", [], "")]
    assert path_templates(f"{api}/vms/(?P<name>[^/]+)/(?P<snap>[^/]+)/revert", api) == [
        ("/vms/{name}/{snap}/revert", ["name", "snap"], "")
    ]
    assert path_templates(f"{api}/vms/(?P<name>[^/]+)/(?P<op>a|b-c)", api) == [
        ("/vms/{name}/a", ["name"], "a"),
        ("/vms/{name}/b-c", ["name"], "b-c"),
    ]
    assert path_templates(rf"{api}/openapi\.json", api) == [("/openapi.json", [], "")]
    assert path_templates(f"{api}/.*", api) == []
