"""The OpenAPI document: served, valid, and covering every route of the API."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from openapi_spec_validator import validate

pytestmark = pytest.mark.server


@pytest.fixture
def jp_server_config() -> dict:
    return {
        "ServerApp": {"jpserver_extensions": {"kernelswitch": True}},
        "KernelSwitchApp": {"libvirt_uris": ["test:///default"]},
    }


async def test_served_document_is_valid_openapi(jp_fetch: Any, jp_base_url: str) -> None:
    resp = await jp_fetch("kernelswitch", "api", "openapi.json")
    doc = json.loads(resp.body)
    validate(doc)  # raises with the offending part when the document is not OpenAPI 3.1
    assert doc["openapi"] == "3.1.0"
    assert doc["servers"] == [{"url": f"{jp_base_url.rstrip('/')}/kernelswitch/api"}]


def test_every_route_is_described_with_the_schemas_that_check_it() -> None:
    from kernelswitch.server.openapi import document, path_template
    from kernelswitch.server.routes import API, handlers
    from kernelswitch.server.vm_handlers import CREATE_SCHEMA, SHUTDOWN_SCHEMA

    doc = document()
    templates = [path_template(p, API) for p, _ in handlers()]
    assert {t[0] for t in templates if t} == set(doc["paths"])
    # the document publishes the very schemas the handlers validate with
    create = doc["paths"]["/vms"]["post"]["requestBody"]["content"]["application/json"]
    assert create["schema"] is CREATE_SCHEMA
    shutdown = doc["paths"]["/vms/{name}/shutdown"]["post"]["requestBody"]
    assert shutdown["content"]["application/json"]["schema"] is SHUTDOWN_SCHEMA
    action = {p["name"]: p for p in doc["paths"]["/vms/{name}/{action}"]["post"]["parameters"]}
    assert action["action"]["schema"]["enum"] == ["start", "destroy", "reboot", "suspend", "resume"]
    for path, ops in doc["paths"].items():
        for verb, op in ops.items():
            assert re.fullmatch(r"\w+\.\w+", op["operationId"]), (path, verb)
            assert "500" in op["responses"] and "403" in op["responses"], (path, verb)


def test_paths_from_route_patterns() -> None:
    from kernelswitch.server.openapi import path_template

    api = "/kernelswitch/api"
    assert path_template(f"{api}/vms/?", api) == ("/vms", {})
    assert path_template(f"{api}/vms/(?P<name>[^/]+)/(?P<snap>[^/]+)/revert", api) == (
        "/vms/{name}/{snap}/revert",
        {"name": None, "snap": None},
    )
    assert path_template(f"{api}/vms/(?P<name>[^/]+)/(?P<op>a|b-c)", api) == (
        "/vms/{name}/{op}",
        {"name": None, "op": ["a", "b-c"]},
    )
    assert path_template(f"{api}/.*", api) is None
