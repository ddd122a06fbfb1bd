"""The run operations through a real jupyter_server (REST) and the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.jp import jp_call, jp_error
from tornado.httpclient import HTTPClientError

from .conftest import qemu_processes, unique_name, wait_serial

pytestmark = [pytest.mark.vm, pytest.mark.server]

SMALL = {"os": "alpinelinux3.17", "memory": "256M", "disk": "1G", "cpus": 1}


@pytest.fixture
def jp_server_config() -> dict:
    return {"ServerApp": {"jpserver_extensions": {"kernelswitch": True}}}


async def test_rest_lifecycle(jp_fetch: Any, testos: dict, vm_manager: Any) -> None:
    name = unique_name("rest")
    resp, info = await jp_call(
        jp_fetch, "POST", "vms", body={"name": name, "iso": str(testos["plain"]), **SMALL}
    )
    assert resp.code == 201
    assert resp.headers["Location"].endswith(f"/kernelswitch/api/vms/{name}")
    assert info["state"] == "running"
    try:
        _, listing = await jp_call(jp_fetch, "GET", "vms")
        assert name in [vm["name"] for vm in listing["vms"]]
        _, storage = await jp_call(jp_fetch, "GET", "storage")
        [disk] = info["disks"]
        [vol] = [v for v in storage["volumes"] if v["path"] == disk["path"]]
        assert vol["capacity"] == disk["capacity"] == 1024**3
        wait_serial(info["serial_log"])

        _, got = await jp_call(jp_fetch, "POST", "vms", name, "suspend")
        assert got["state"] == "paused"
        _, got = await jp_call(jp_fetch, "POST", "vms", name, "resume")
        assert got["state"] == "running"
        _, got = await jp_call(jp_fetch, "POST", "vms", name, "reboot")
        wait_serial(info["serial_log"], count=2)
        _, got = await jp_call(jp_fetch, "POST", "vms", name, "shutdown", body={"timeout": 60})
        assert got["state"] == "shutoff"
        code, err = await jp_error(jp_fetch, "POST", "vms", name, "destroy")
        assert (code, err["code"]) == (409, "vm_state")
        _, got = await jp_call(jp_fetch, "POST", "vms", name, "start")
        assert got["state"] == "running"
        _, got = await jp_call(jp_fetch, "POST", "vms", name, "destroy")
        assert got["state"] == "shutoff"
        _, got = await jp_call(jp_fetch, "GET", "vms", name)
        assert got["name"] == name and got["os_id"].endswith("/3.17")
    finally:
        resp, answer = await jp_call(jp_fetch, "DELETE", "vms", name, disks="1", force="1")
    assert resp.code == 200
    assert answer["removed_disks"] == [d["path"] for d in info["disks"]]
    assert not Path(answer["removed_disks"][0]).exists()
    code, err = await jp_error(jp_fetch, "GET", "vms", name)
    assert (code, err["code"]) == (404, "vm_not_found")
    assert qemu_processes(name) == []


async def test_rest_bad_requests(jp_fetch: Any, testos: dict) -> None:
    code, err = await jp_error(
        jp_fetch, "POST", "vms", body={"name": "bad<name", "iso": str(testos["plain"])}
    )
    assert (code, err["code"]) == (400, "invalid_vm_spec")
    assert "'<'" in err["message"]
    code, err = await jp_error(
        jp_fetch, "POST", "vms", body={"name": unique_name("x"), "iso": str(testos["plain"])}
    )
    assert (code, err["code"]) == (422, "os_not_identified")
    assert len(err["details"]["oses"]) > 50
    code, err = await jp_error(jp_fetch, "POST", "vms", body={"name": "x", "size": 3})
    assert (code, err["code"]) == (400, "invalid_vm_spec")
    assert err["message"].startswith("Unknown keys size;") and err["details"]["unknown"] == ["size"]
    code, err = await jp_error(jp_fetch, "POST", "vms", "nope-nothing", "start")
    assert (code, err["code"]) == (404, "vm_not_found")


async def test_rest_storage(jp_fetch: Any, vm_manager: Any) -> None:
    resp, body = await jp_call(jp_fetch, "GET", "storage")
    assert resp.code == 200
    assert body["path"] == str(vm_manager.storage.pool_path())
    assert body["capacity"] >= body["available"] > 0
    assert isinstance(body["volumes"], list)


async def test_rest_refuses_without_token(http_server_client: Any, jp_base_url: str) -> None:
    with pytest.raises(HTTPClientError) as e:
        await http_server_client.fetch(f"{jp_base_url}kernelswitch/api/vms")
    assert e.value.code == 403


async def test_rest_survives_daemon_dropping_the_server(jp_fetch: Any) -> None:
    """The server's libvirt link is cut by the daemon; the next request just works."""
    from kernelswitch.vm.connection import close_all

    from .test_run import _client_ids_of_this_process

    close_all()  # so the server's link is the one that appears next
    before = set(_client_ids_of_this_process())
    await jp_call(jp_fetch, "GET", "vms")
    server_links = set(_client_ids_of_this_process()) - before
    assert len(server_links) == 1, server_links
    for cid in server_links:
        subprocess.run(["virt-admin", "client-disconnect", "libvirtd", cid], check=True)
    resp, body = await jp_call(jp_fetch, "GET", "vms")
    assert resp.code == 200 and isinstance(body["vms"], list)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kernelswitch.cli", "vm", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_create_info_delete(testos: dict) -> None:
    name = unique_name("cli")
    p = _cli(
        "create", name, "--iso", str(testos["plain"]), "--os", "alpinelinux3.17",
        "--memory", "256M", "--disk", "1G", "--cpus", "1", "--no-start", "--json",
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    created = json.loads(p.stdout)
    assert created["name"] == name and created["state"] == "shutoff"

    p = _cli("list")
    assert p.returncode == 0 and p.stdout.startswith("NAME")
    [row] = [line for line in p.stdout.splitlines() if line.startswith(name)]
    assert row.split() == [name, "shutoff", "alpinelinux/3.17", "256M", "1"]

    p = _cli("info", name)
    assert p.returncode == 0 and f"{name}: shutoff" in p.stdout
    assert "  memory   256M, 1 vCPU(s)" in p.stdout
    [disk] = created["disks"]
    assert f"  disk     {disk['target']} {disk['path']} (1G, " in p.stdout

    p = _cli("start", name, "--json")
    assert p.returncode == 0 and json.loads(p.stdout)["state"] == "running"

    p = _cli("delete", name)
    assert p.returncode == 1
    assert p.stderr.startswith("kernelswitch: ") and "--force" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1

    p = _cli("delete", name, "--disks", "--force", "--json")
    assert p.returncode == 0, p.stderr
    answer = json.loads(p.stdout)
    assert answer["removed_disks"] == [d["path"] for d in created["disks"]]


def test_cli_errors_are_one_line(testos: dict) -> None:
    p = _cli("info", "kstvm-nothing-here")
    assert p.returncode == 1
    assert p.stderr.strip() == (
        "kernelswitch: There is no VM named 'kstvm-nothing-here'. "
        "List them with `kernelswitch vm list`."
    )
    p = _cli("create", "kstvm-x", "--iso", str(testos["plain"]))
    assert p.returncode == 1 and "--os" in p.stderr
