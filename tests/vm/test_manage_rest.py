"""The manage verbs through a real jupyter_server (REST) and the real CLI.

No guest boots here: one VM is defined and left shut off, which is enough for
every route (media and edits change its definition, an internal snapshot of a
shut-off VM is disk-only, a clone needs the source off anyway).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.jp import jp_call, jp_error

from .conftest import unique_name

pytestmark = [pytest.mark.vm, pytest.mark.server]

SMALL = {"os": "alpinelinux3.17", "memory": "256M", "disk": "1G", "cpus": 1}


@pytest.fixture
def jp_server_config() -> dict:
    return {"ServerApp": {"jpserver_extensions": {"kernelswitch": True}}}


async def test_rest_manage_routes(jp_fetch: Any, testos: dict, vm_manager: Any) -> None:
    name = unique_name("rest-manage")
    clone = f"{name}-c"
    vm_manager.create(name, str(testos["plain"]), start=False, **SMALL)
    try:
        # media: config only (it is off)
        _, got = await jp_call(jp_fetch, "POST", "vms", name, "eject")
        assert got["media_change"]["live"] is False and got["media"][0]["path"] is None
        code, err = await jp_error(jp_fetch, "POST", "vms", name, "eject")
        assert (code, err["code"], err["details"]["target"]) == (409, "vm_state", "sda")
        assert err["message"] == (
            f"VM {name!r} has no disc in sda: nothing to eject. "
            f"Insert one with `vm insert {name} PATH.iso`."
        )
        code, err = await jp_error(jp_fetch, "POST", "vms", name, "insert", body={})
        assert (code, err["code"]) == (400, "invalid_vm_spec") and "'iso'" in err["message"]
        code, err = await jp_error(
            jp_fetch, "POST", "vms", name, "insert", body={"iso": "/nope.iso", "x": 1}
        )
        assert code == 400 and "Unknown keys x" in err["message"]
        _, got = await jp_call(
            jp_fetch, "POST", "vms", name, "insert", body={"iso": str(testos["plain"])}
        )
        assert got["media"][0]["path"] == str(testos["plain"])

        # snapshots
        resp, snap = await jp_call(jp_fetch, "POST", "vms", name, "snapshots", body={"name": "s1"})
        assert resp.code == 201 and resp.headers["Location"].endswith(f"/{name}/snapshots/s1")
        assert (snap["state"], snap["kind"]) == ("shutoff", "internal")
        _, listing = await jp_call(jp_fetch, "GET", "vms", name, "snapshots")
        assert [s["name"] for s in listing["snapshots"]] == ["s1"]
        code, err = await jp_error(jp_fetch, "POST", "vms", name, "snapshots", "nope", "revert")
        assert (code, err["code"]) == (404, "snapshot_not_found")
        _, got = await jp_call(jp_fetch, "POST", "vms", name, "snapshots", "s1", "revert")
        assert got["reverted_to"]["name"] == "s1"
        _, got = await jp_call(jp_fetch, "DELETE", "vms", name, "snapshots", "s1")
        assert got["snapshots"] == []
        resp, snap = await jp_call(
            jp_fetch, "POST", "vms", name, "snapshots", "s2", body={"description": "by URL"}
        )
        assert resp.code == 201 and (snap["name"], snap["description"]) == ("s2", "by URL")
        _, got = await jp_call(jp_fetch, "DELETE", "vms", name, "snapshots", "s2")
        assert got["deleted_snapshot"]["name"] == "s2"

        # edit
        code, err = await jp_error(jp_fetch, "PATCH", "vms", name, body={"memory": True})
        assert code == 400 and "'memory'" in err["message"]
        code, err = await jp_error(
            jp_fetch, "PATCH", "vms", name, body={"grow": {"disk": "vda", "size": "512M"}}
        )
        assert code == 400 and "shrink" in err["message"]
        _, got = await jp_call(
            jp_fetch, "PATCH", "vms", name,
            body={"memory": "512M", "autostart": True, "grow": {"disk": "vda", "size": "2G"}},
        )  # fmt: skip
        assert got["memory"] == 512 * 1024**2 and got["autostart"] is True
        assert got["disks"][0]["capacity"] == 2 * 1024**3
        _, got = await jp_call(jp_fetch, "GET", "vms", name)  # GET still served on this path
        assert got["name"] == name

        # clone
        code, err = await jp_error(jp_fetch, "POST", "vms", name, "clone", body={"name": name})
        assert (code, err["code"]) == (409, "vm_exists")
        resp, got = await jp_call(jp_fetch, "POST", "vms", name, "clone", body={"name": clone})
        assert resp.code == 201 and resp.headers["Location"].endswith(f"/vms/{clone}")
        assert got["clone"]["source"] == name

        # disks: the clone deleted without its disk leaves an orphan, deleted by name
        _, answer = await jp_call(jp_fetch, "DELETE", "vms", clone)
        [kept] = [k["path"] for k in answer["kept_disks"]]
        _, disks = await jp_call(jp_fetch, "GET", "storage", "disks")
        [row] = [d for d in disks["disks"] if d["path"] == kept]
        assert row["orphan"]
        [own] = [d for d in disks["disks"] if d["vms"] == [name]]
        code, err = await jp_error(jp_fetch, "DELETE", "storage", "disks", own["name"])
        assert code == 400 and "used by VM" in err["message"]
        _, gone = await jp_call(jp_fetch, "DELETE", "storage", "disks", row["name"])
        assert [r["path"] for r in gone["removed"]] == [kept] and not Path(kept).exists()

        # catalogue and download refusals
        _, cat = await jp_call(jp_fetch, "GET", "osinfo", "catalog", q="debian11 x86_64")
        assert cat["media"] and all(m["os"] == "debian11" for m in cat["media"])
        code, err = await jp_error(jp_fetch, "POST", "isos", "download", body={"os": "nosuchos"})
        assert (code, err["code"]) == (400, "invalid_vm_spec")
    finally:
        for n in (clone, name):
            try:
                vm_manager.delete(n, disks=True, force=True)
            except Exception:
                pass


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kernelswitch.cli", "vm", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_cli_manage_verbs(testos: dict, vm_manager: Any) -> None:
    name = unique_name("cli-manage")
    vm_manager.create(name, str(testos["plain"]), start=False, **SMALL)
    try:
        out = _cli("snapshot", "create", name, "first", "--description", "a test")
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("Took snapshot first (VM shutoff, ")
        out = _cli("snapshot", "list", name)
        assert out.stdout.splitlines()[0].split()[:2] == ["SNAPSHOT", "TAKEN"]
        assert "first" in out.stdout and "a test" in out.stdout
        out = _cli("snapshot", "revert", name, "second")
        assert out.returncode == 1 and out.stderr.count("\n") == 1
        assert "kernelswitch vm snapshot list" in out.stderr  # the hint as typed here
        out = _cli("edit", name, "--memory", "384M", "--autostart", "on", "--json")
        changes = {c["what"]: c for c in json.loads(out.stdout)["changes"]}
        assert changes["memory"]["after"] == 384 * 1024**2
        out = _cli("edit", name, "--cpus", "2")
        assert "cpus: 1 -> 2, applies next boot" in out.stdout
        out = _cli("disks")
        assert out.returncode == 0, out.stderr
        header = ["DISK", "ON", "DISK", "CAPACITY", "USED", "BY"]
        assert out.stdout.splitlines()[0].split() == header
        assert name in out.stdout and "orphan(s) using" in out.stdout
        out = _cli("info", name)
        assert "  autostart on" in out.stdout and "  serial   " in out.stdout
        out = _cli("snapshot", "revrt", name, "first")
        assert out.returncode == 2 and "Did you mean 'revert'?" in out.stderr
        # after `vm delete` kept the disks, `delete --disks` points at `vm disks`
        out = _cli("delete", f"{name}-gone", "--disks")
        assert out.returncode == 1 and "listed by `kernelswitch vm disks`" in out.stderr
    finally:
        vm_manager.delete(name, disks=True, force=True)


async def test_openapi_documents_the_manage_routes(jp_fetch: Any) -> None:
    _, doc = await jp_call(jp_fetch, "GET", "openapi.json")
    paths = doc["paths"]
    expected = {
        "/vms/{name}/eject": ["post"],
        "/vms/{name}/insert": ["post"],
        "/vms/{name}/snapshots": ["get", "post"],
        "/vms/{name}/snapshots/{snap}": ["post", "delete"],
        "/vms/{name}/snapshots/{snap}/revert": ["post"],
        "/vms/{name}/clone": ["post"],
        "/vms/{name}": ["get", "delete", "patch"],
        "/storage/disks": ["get"],
        "/storage/disks/delete": ["post"],
        "/storage/disks/{disk}": ["delete"],
        "/osinfo/catalog": ["get"],
        "/isos/download": ["post"],
        "/isos/downloads/{job}": ["get"],
    }
    for path, verbs in expected.items():
        for verb in verbs:
            op = paths[path][verb]
            assert not op.get("x-undocumented"), (path, verb)
            assert op["summary"] and "403" in op["responses"]
    patch = paths["/vms/{name}"]["patch"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(patch["properties"]) == {"memory", "cpus", "autostart", "add_disk", "grow"}
