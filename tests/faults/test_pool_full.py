"""A full storage pool (issue 15): create, snapshot, clone and add-disk answer
507 ``pool_full`` with the free space, never 500, and leave nothing behind.

The pool is a 64 MiB tmpfs mounted only inside the private daemon's mount
namespace (tests/faults/daemon.py), filled to the last byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from .conftest import GUEST, domains_and_volumes, guest_iso, make_daemon
from .daemon import PrivateLibvirtd


@pytest.fixture(scope="module")
def private_libvirtd() -> Iterator[PrivateLibvirtd]:
    yield from make_daemon(pool_tmpfs="64m")


@pytest.fixture(scope="module")
def full_pool_vm(private_libvirtd: PrivateLibvirtd) -> Iterator[dict[str, Any]]:
    """A shut-off VM whose disk is in the pool, then the pool filled up."""
    from vm.conftest import unique_name

    from kernelswitch.vm.manager import VMManager

    manager = VMManager(private_libvirtd.uri)
    info = manager.create(unique_name("full"), str(guest_iso()), **{**GUEST, "start": False})
    pool = private_libvirtd.pool_dir
    # fill to the last byte: big blocks first, then small ones
    filled = private_libvirtd.in_ns(
        "sh", "-c", f"dd if=/dev/zero of={pool}/filler bs=1M; dd if=/dev/zero of={pool}/filler2 "
        "bs=512; df -B1 --output=avail " + str(pool),
    )  # fmt: skip
    assert filled.stdout.split()[-1] == "0", filled
    yield info
    manager.delete(info["name"], disks=True, force=True)


async def _pool_full(jp_fetch: Any, method: str, *path: str, body: Any) -> dict[str, Any]:
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch(
            "kernelswitch", "api", *path, method=method, body=json.dumps(body),
        )  # fmt: skip
    assert e.value.response is not None
    err = json.loads(e.value.response.body)["error"]
    assert e.value.code == 507, err
    assert err["code"] == "pool_full", err
    assert err["details"]["available"] is not None and err["details"]["available"] < 1024**2
    assert "free" in err["message"], err
    return err


async def test_full_pool_answers_507_and_leaves_nothing(
    jp_fetch: Any, private_libvirtd: PrivateLibvirtd, full_pool_vm: dict[str, Any]
) -> None:
    from vm.conftest import unique_name

    uri = private_libvirtd.uri
    name = full_pool_vm["name"]
    before = domains_and_volumes(uri)

    new = unique_name("full-new")
    body = {"name": new, "iso": str(guest_iso()), **GUEST, "start": False}
    err = await _pool_full(jp_fetch, "POST", "vms", body=body)
    assert "Nothing was left behind" in err["message"], err
    assert domains_and_volumes(uri) == before

    await _pool_full(jp_fetch, "POST", "vms", name, "snapshots", body={"name": "s1"})
    assert domains_and_volumes(uri) == before
    r = await jp_fetch("kernelswitch", "api", "vms", name, "snapshots")
    assert json.loads(r.body)["snapshots"] == []

    err = await _pool_full(jp_fetch, "POST", "vms", name, "clone", body={"name": unique_name("c")})
    assert "Nothing was left behind" in err["message"], err
    assert domains_and_volumes(uri) == before

    err = await _pool_full(jp_fetch, "PATCH", "vms", name, body={"add_disk": "1G"})
    assert "Nothing was left behind" in err["message"], err
    assert domains_and_volumes(uri) == before
    r = await jp_fetch("kernelswitch", "api", "vms", name)
    assert len(json.loads(r.body)["disks"]) == 1

    # a running guest's snapshot (its memory goes into the full qcow2 too)
    await jp_fetch("kernelswitch", "api", "vms", name, "start", method="POST", body="{}")
    try:
        await _pool_full(jp_fetch, "POST", "vms", name, "snapshots", body={"name": "s2"})
        r = await jp_fetch("kernelswitch", "api", "vms", name, "snapshots")
        assert json.loads(r.body)["snapshots"] == []
    finally:
        await jp_fetch("kernelswitch", "api", "vms", name, "destroy", method="POST", body="{}")
    assert domains_and_volumes(uri) == before
