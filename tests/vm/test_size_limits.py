"""Sizes beyond what libvirt and QEMU can hold are a 400 naming the limit (issue 15).

``PATCH vms/X {"grow": {"size": "999999999T"}}`` used to reach ``vol.resize``
and answer 500 (OverflowError); every size field goes through the same check.
Real jupyter_server, one shut-off VM (nothing boots).
"""

from __future__ import annotations

from typing import Any

import pytest
from support.jp import jp_call, jp_error

from kernelswitch.vm.errors import InvalidVMSpec
from kernelswitch.vm.spec import MAX_SIZE, parse_size

from .conftest import unique_name

pytestmark = [pytest.mark.vm, pytest.mark.server]

SMALL = {"os": "alpinelinux3.17", "memory": "256M", "disk": "1G", "cpus": 1}
HUGE = ["999999999T", "4096T", 2**40, "99999999999999999999999999G"]


@pytest.fixture
def jp_server_config() -> dict:
    return {"ServerApp": {"jpserver_extensions": {"kernelswitch": True}}}


def test_parse_size_caps_at_the_largest_qcow2_disk() -> None:
    assert parse_size("2048T") == MAX_SIZE == 2 * 1024**5
    for value in HUGE:
        with pytest.raises(InvalidVMSpec) as e:
            parse_size(value, "G", what="disk size")
        assert "too large" in e.value.message and "2048T" in e.value.message


async def test_huge_sizes_are_refused_everywhere(
    jp_fetch: Any, testos: dict, vm_manager: Any
) -> None:
    name = unique_name("sizes")
    vm_manager.create(name, str(testos["plain"]), start=False, **SMALL)
    try:
        bodies = [
            {"grow": {"disk": "vda", "size": "999999999T"}},  # the repro
            {"grow": {"size": 2**40}},  # a bare number is GiB: 2^70 bytes
            {"memory": "999999999T"},
            {"add_disk": "999999999T"},
        ]
        for body in bodies:
            code, err = await jp_error(jp_fetch, "PATCH", "vms", name, body=body)
            assert (code, err["code"]) == (400, "invalid_vm_spec"), (body, err)
            assert "too large" in err["message"] and "2048T" in err["message"], err
        create = {"name": unique_name("sizes-new"), "iso": str(testos["plain"])}
        for key in ("memory", "disk"):
            code, err = await jp_error(jp_fetch, "POST", "vms", body={**create, key: "999999999T"})
            assert (code, err["code"]) == (400, "invalid_vm_spec"), (key, err)
            assert "too large" in err["message"]
        # nothing changed
        _, got = await jp_call(jp_fetch, "GET", "vms", name)
        assert got["memory"] == 256 * 1024**2 and len(got["disks"]) == 1
        assert got["disks"][0]["capacity"] == 1024**3
        assert create["name"] not in vm_manager.names()
    finally:
        vm_manager.delete(name, disks=True, force=True)
