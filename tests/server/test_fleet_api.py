"""Several libvirt URIs: one VM list, operations find the VM's own connection.

The second URI is libvirt's built-in test driver (``test:///default``, one
running domain called ``test``), a real libvirt connection with no daemon.
"""

from __future__ import annotations

import json

import pytest
from support.jp import ks_server_config
from tornado.httpclient import HTTPClientError
from traitlets import TraitError

pytestmark = [pytest.mark.server, pytest.mark.vm]


@pytest.fixture
def jp_server_config() -> dict:
    return ks_server_config(libvirt_uris=["qemu:///session", "test:///default"])


async def _json(jp_fetch, *path: str, method: str = "GET", body: dict | None = None) -> dict:
    kw = {"method": method}
    if body is not None:
        kw["body"] = json.dumps(body)
    return json.loads((await jp_fetch("kernelswitch", "api", *path, **kw)).body)


async def test_list_merges_uris_and_actions_reach_the_owner(jp_fetch) -> None:
    vms = (await _json(jp_fetch, "vms"))["vms"]
    test_vm = next(v for v in vms if v["name"] == "test")
    assert test_vm["uri"] == "test:///default"
    assert all(v["uri"] == "qemu:///session" for v in vms if v["name"] != "test")

    paused = await _json(jp_fetch, "vms", "test", "suspend", method="POST", body={})
    assert paused["state"] == "paused" and paused["uri"] == "test:///default"
    running = await _json(jp_fetch, "vms", "test", "resume", method="POST", body={})
    assert running["state"] == "running"
    assert (await _json(jp_fetch, "vms", "test"))["uri"] == "test:///default"


async def test_name_taken_on_another_uri_is_refused(jp_fetch) -> None:
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch(
            "kernelswitch", "api", "vms", method="POST",
            body=json.dumps({"name": "test", "iso": "/nonexistent.iso"}),
        )  # fmt: skip
    assert e.value.code == 409
    err = json.loads(e.value.response.body)["error"]
    assert err["code"] == "vm_exists" and "test:///default" in err["message"]


async def test_unknown_vm_is_404_on_every_uri(jp_fetch) -> None:
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("kernelswitch", "api", "vms", "nowhere-vm")
    assert e.value.code == 404


@pytest.mark.parametrize("uris", [[], ["not-a-uri"]])
def test_bad_uri_config_is_refused(uris: list[str]) -> None:
    from kernelswitch.server.app import KernelSwitchApp

    with pytest.raises(TraitError, match="URI"):
        KernelSwitchApp(libvirt_uris=uris)
