"""Free disk space: one figure, named, wherever it is shown or checked (issue 18).

The manager and ``%vm disks`` showed the pool's free space (226 G), the create
form and create errors ``df``'s (76 G): statvfs ``f_bfree`` vs ``f_bavail``
(blocks reserved for root). Now all of them use the pool's and say so.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from .conftest import session_vms, unique_name

GIB = 1024**3


def test_form_create_error_and_disks_say_the_same_free_space(
    vm_manager: Any, testos: dict[str, Path]
) -> None:
    from types import SimpleNamespace

    from kernelswitch.server.vm_form_handlers import check_request
    from kernelswitch.vm.disks import inventory
    from kernelswitch.vm.errors import InvalidVMSpec

    free = vm_manager.storage.free()
    where = f"pool {free['pool']} ({free['path']})"
    assert free["where"] == where
    st = os.statvfs(free["path"])
    # the pool counts free blocks, reserved ones too (QEMU writes as the daemon's user)
    assert abs(free["available"] - st.f_bfree * st.f_frsize) < GIB

    disks = inventory(vm_manager)
    assert abs(disks["available"] - free["available"]) < GIB

    fleet = SimpleNamespace(primary=vm_manager, managers=[vm_manager])
    form = check_request(fleet, {"iso": str(testos["plain"]), "os": "alpinelinux3.17"})
    assert abs(form["host"]["disk"] - free["available"]) < GIB
    assert form["host"]["disk_where"] == where

    name = unique_name("free")
    with pytest.raises(InvalidVMSpec) as e:
        vm_manager.create(name, str(testos["plain"]), os="alpinelinux3.17", disk="900T",
                          memory="256M", start=False)  # fmt: skip
    assert f"free in {where}" in e.value.message, e.value.message
    assert name not in session_vms(vm_manager)
