"""Bad create requests: each a clear error, and nothing created or deleted."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from .conftest import SESSION_PREFIX, leftover_volumes, session_vms, unique_name

pytestmark = pytest.mark.vm

GOOD = {"os": "alpinelinux3.17", "memory": "256M", "disk": "1G", "cpus": 1}


@pytest.fixture(scope="module")
def existing_vm(vm_manager: Any, testos: dict) -> Any:
    name = unique_name("dup")
    vm_manager.create(name, str(testos["plain"]), start=False, **GOOD)
    yield name
    vm_manager.delete(name, disks=True, force=True)


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory, testos: dict) -> dict[str, str]:
    base = tmp_path_factory.mktemp("bad-isos")
    text = base / "notes.txt"
    text.write_text("not an ISO\n" * 4000)
    folder = base / "folder.iso"
    folder.mkdir()
    # pytest's temp root is 0700: the hypervisor user cannot enter it
    hidden = base / "hidden.iso"
    shutil.copy(testos["plain"], hidden)
    return {
        "missing": str(base / "nope.iso"),
        "dir": str(folder),
        "text": str(text),
        "unreachable": str(hidden),
    }


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("name-lt", {"name": "bad<name"}, "'<'"),
    ("name-quote", {"name": "it's"}, '"\'"'),
    ("name-slash", {"name": "a/b"}, "'/'"),
    ("name-long", {"name": "x" * 300}, "300 characters"),
    ("name-empty", {"name": ""}, "needs a name"),
    ("name-dup", {"name": "@dup"}, "already exists"),
    ("iso-missing", {"iso": "@missing"}, "does not exist"),
    ("iso-dir", {"iso": "@dir"}, "is a directory"),
    ("iso-text", {"iso": "@text"}, "not an ISO 9660 image"),
    ("iso-unreachable", {"iso": "@unreachable"}, "cannot open the ISO"),
    ("mem-zero", {"memory": "0"}, "greater than zero"),
    ("mem-negative", {"memory": "-1G"}, "greater than zero"),
    ("mem-unit", {"memory": "1Z"}, "unknown unit"),
    ("mem-host", {"memory": "64T"}, "more than the host"),
    ("disk-zero", {"disk": "0"}, "greater than zero"),
    ("disk-negative", {"disk": "-1G"}, "greater than zero"),
    ("disk-unit", {"disk": "1Z"}, "unknown unit"),
    ("disk-host", {"disk": "900T"}, "free space"),
    ("cpus-zero", {"cpus": 0}, "at least 1"),
    ("cpus-host", {"cpus": 4096}, "CPUs"),
    ("os-unknown", {"os": "nosuchos1.0"}, "nosuchos1.0"),
    ("mem-below-os-min", {"os": "fedora37", "memory": "256M", "disk": "20G"}, "at least 1G"),
]


@pytest.mark.parametrize(("case", "change", "expect"), CASES, ids=[c[0] for c in CASES])
def test_bad_create_is_refused_and_changes_nothing(
    vm_manager: Any,
    libvirt_conn: Any,
    testos: dict,
    existing_vm: str,
    bad_files: dict[str, str],
    case: str,
    change: dict[str, Any],
    expect: str,
) -> None:
    from kernelswitch.vm.errors import VMError

    request: dict[str, Any] = {"name": unique_name("bad"), "iso": str(testos["plain"]), **GOOD}
    request.update(change)
    if request["name"] == "@dup":
        request["name"] = existing_vm
    if str(request["iso"]).startswith("@"):
        request["iso"] = bad_files[request["iso"][1:]]
    before = (session_vms(vm_manager), sorted(leftover_volumes(libvirt_conn)))
    pool = vm_manager.storage.pool_path()
    files_before = sorted(p.name for p in Path(pool).iterdir() if p.name.startswith(SESSION_PREFIX))

    with pytest.raises(VMError) as e:
        vm_manager.create(**request)

    assert expect in e.value.message, e.value.message
    assert e.value.http_status in (400, 409, 422)
    after = (session_vms(vm_manager), sorted(leftover_volumes(libvirt_conn)))
    assert after == before
    files = sorted(p.name for p in Path(pool).iterdir() if p.name.startswith(SESSION_PREFIX))
    assert files == files_before
    assert existing_vm in after[0]
    if request["name"] != existing_vm:
        assert request["name"] not in vm_manager.names()
