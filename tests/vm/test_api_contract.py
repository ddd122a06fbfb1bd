"""The OpenAPI contract, fuzzed against a real server and real libvirt (schemathesis).

Every answer must be documented, match its schema, and never be a 500.
Stateless: each documented operation with valid and invalid input. Stateful:
create (with the test ISO, not started), then whatever the links allow (look,
run verbs, shut down, delete), so real VMs go through the verbs. Bounded:
a few examples per operation and short shutdown waits; everything made is
removed at the end, and the test checks that nothing is left.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# What schemathesis would import lazily mid-test is imported here, at
# collection: pytest rewrites plugin modules through ast.parse, and Debian 12's
# Python 3.11.2 can fail that with "AST constructor recursion depth mismatch"
# while the in-process server's threads run (CPython gh-106905).
import hypothesis.stateful
import hypothesis.strategies._internal.flatmapped  # noqa: F401
import pytest
import schemathesis
import schemathesis.specs.graphql.schemas
import schemathesis.specs.graphql.validation
import schemathesis.specs.openapi.schemas
import schemathesis.specs.openapi.stateful
import schemathesis.stateful.runner
import schemathesis.stateful.state_machine
import schemathesis.transports.responses
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.experimental import OPEN_API_3_1
from schemathesis.specs.openapi.checks import ignored_auth
from support.api import call
from support.jupyter import RunningServer, jupyter_server

from .conftest import SESSION_PREFIX

pytestmark = [pytest.mark.vm, pytest.mark.server]

OPEN_API_3_1.enable()
#: VMs the stateful run creates carry this prefix (cleanup finds them by it).
CONTRACT_PREFIX = f"{SESSION_PREFIX}api-"
#: Longest shutdown wait the fuzzer may ask for (the API allows 600 s).
SHUTDOWN_CAP = 3.0
_HEALTH = list(HealthCheck)
#: Jupyter refuses a missing or wrong token with 403, where this check wants 401;
#: the refusal itself is tested in test_rest_cli.py and tests/server.
_NOT_CHECKED = (ignored_auth,)


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("contract-server")
    (root / "envs").mkdir()
    with jupyter_server(
        root,
        extra_args=[
            f"--KernelSwitchApp.env_roots={root / 'envs'}",
            "--KernelSwitchApp.env_depth=2",
        ],
        env={"KERNELSWITCH_CACHE": str(root / "cache")},
    ) as s:
        yield s


@pytest.fixture(scope="module")
def api_schema(api_server: RunningServer) -> Any:
    doc = call(api_server, "GET", "openapi.json").body
    validate(doc)
    schema = schemathesis.from_dict(
        doc,
        base_url=f"{api_server.url}kernelswitch/api",
        data_generation_methods=[
            schemathesis.DataGenerationMethod.positive,
            schemathesis.DataGenerationMethod.negative,
        ],
        generation_config=schemathesis.GenerationConfig(with_security_parameters=False),
    )
    return schema.exclude(func=lambda ctx: bool(ctx.operation.definition.raw.get("x-undocumented")))


@pytest.fixture(scope="module")
def cleanup(vm_manager: Any) -> Iterator[None]:
    """Remove whatever the fuzzing made; then prove nothing is left."""
    yield
    for name in vm_manager.names():
        if name.startswith(CONTRACT_PREFIX):
            vm_manager.delete(name, disks=True, force=True)
    for vol in vm_manager.storage_usage()["volumes"]:  # disks a delete kept (as asked)
        if vol["name"].startswith(CONTRACT_PREFIX):
            vm_manager.storage.delete_path(vol["path"])
    assert [n for n in vm_manager.names() if n.startswith(CONTRACT_PREFIX)] == []
    volumes = vm_manager.storage_usage()["volumes"]  # refreshes the pool (with retries)
    assert [v["name"] for v in volumes if v["name"].startswith(CONTRACT_PREFIX)] == []


def _auth(server: RunningServer) -> dict[str, str]:
    return {"Authorization": f"token {server.token}"}


# schemathesis 3.x warns about its own deprecated filter arguments even when none
# are passed; nothing to change on our side
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    schema = schemathesis.from_pytest_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=8, deadline=None, database=None, derandomize=True, suppress_health_check=_HEALTH
)
def test_every_operation_answers_as_documented(
    case: Any, api_server: RunningServer, cleanup: None
) -> None:
    if case.path == "/vms/{name}/shutdown" and isinstance(case.body, dict):
        _cap_shutdown(case.body)
    if (case.path == "/envs" and case.method.upper() == "POST" and isinstance(case.body, dict)
            and isinstance(case.body.get("dry_run", False), bool)):
        case.body["dry_run"] = True  # checked and planned, not made (a pip install each)
    response = case.call(headers=_auth(api_server), timeout=120)
    # no 500, documented status, content type, schema, invalid input refused
    case.validate_response(response, excluded_checks=_NOT_CHECKED)
    _not_busy_with_nothing(response)


def _not_busy_with_nothing(response: Any) -> None:
    """Requests here run one after another: a VM can never be busy (a leaked lock)."""
    if response.status_code == 409:
        assert response.json()["error"]["code"] != "vm_busy", response.text[:300]


def _cap_shutdown(body: dict[str, Any]) -> None:
    timeout = body.get("timeout")
    if (
        isinstance(timeout, int | float)
        and not isinstance(timeout, bool)
        and timeout > SHUTDOWN_CAP
    ):
        body["timeout"] = SHUTDOWN_CAP


def test_create_act_delete_workflow(
    api_schema: Any, api_server: RunningServer, testos: dict[str, Path], cleanup: None
) -> None:
    """Stateful: VMs really made from the test ISO go through the linked operations."""
    from kernelswitch.vm.spec import MAX_NAME_LENGTH

    stateful = schemathesis.from_dict(
        api_schema.raw_schema, base_url=f"{api_server.url}kernelswitch/api"
    )

    @stateful.hook("map_body")
    def realistic(context: Any, body: Any) -> Any:
        if not isinstance(body, dict):
            return body
        if context.operation.path == "/vms" and context.operation.method.upper() == "POST":
            # from the drawn name, so replaying an example draws the same request
            tail = "".join(c for c in str(body.get("name", "")) if c.isascii() and c.isalnum())
            return {
                "name": (CONTRACT_PREFIX + (tail or "x"))[:MAX_NAME_LENGTH],
                "iso": str(testos["plain"]),
                "os": "alpinelinux3.17",
                "memory": "256M",
                "disk": "1G",
                "cpus": 1,
                "start": False,
            }
        if context.operation.path == "/vms/{name}/shutdown":
            _cap_shutdown(body)
        return body

    server = api_server

    class Workflow(stateful.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": _auth(server), "timeout": 120}

        def validate_response(self, response: Any, case: Any, **_kw: Any) -> None:
            case.validate_response(response, excluded_checks=_NOT_CHECKED)
            _not_busy_with_nothing(response)

    Workflow.run(
        settings=settings(
            max_examples=4,
            stateful_step_count=6,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=_HEALTH,
        )
    )
