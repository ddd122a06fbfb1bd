"""Validation before anything exists: every bad input is a clear InvalidVMSpec."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernelswitch.vm import host, spec
from kernelswitch.vm.errors import InvalidVMSpec, OSNotIdentified
from kernelswitch.vm.host import HostLimits
from kernelswitch.vm.spec import GiB, MiB, check_iso, check_name, parse_size, resolve_spec

from .conftest import make_iso

BIG = HostLimits(memory=64 * GiB, cpus=64, disk=4096 * GiB)


# ----------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [
        ("512M", "M", 512 * MiB),
        ("2G", "M", 2 * GiB),
        ("2048", "M", 2 * GiB),
        ("20", "G", 20 * GiB),
        ("1.5GiB", "M", 1536 * MiB),
        (" 3 gb ", "M", 3 * GiB),
        (1024, "M", GiB),
        ("1T", "G", 1024 * GiB),
    ],
)
def test_parse_size_ok(text: str | int, unit: str, expected: int) -> None:
    assert parse_size(text, unit) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("0", "greater than zero"),
        ("-1G", "greater than zero"),
        ("1Z", "unknown unit 'Z'"),
        ("two gigs", "not a size"),
        ("", "not a size"),
        ("nan", "not a size"),
        (0, "greater than zero"),
    ],
)
def test_parse_size_bad(text: str | int, fragment: str) -> None:
    with pytest.raises(InvalidVMSpec, match=fragment) as e:
        parse_size(text, what="memory")
    assert "2G" in e.value.message  # every message shows a valid example


# ------------------------------------------------------------------ names


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("bad<name", "'<'"),
        ("it's", '"\'"'),
        ("a/b", "'/'"),
        ("x" * 300, "300 characters"),
        ("", "needs a name"),
        ("   ", "needs a name"),
        ("-dash", "start with a letter or digit"),
        ("with space", "' '"),
        ("café", "'é'"),
    ],
)
def test_bad_names(name: str, fragment: str) -> None:
    with pytest.raises(InvalidVMSpec) as e:
        check_name(name)
    assert fragment in e.value.message
    assert e.value.code == "invalid_vm_spec" and e.value.http_status == 400


def test_duplicate_name() -> None:
    with pytest.raises(InvalidVMSpec, match="already exists") as e:
        check_name("fedora", existing={"fedora", "other"})
    assert "delete" in e.value.message


def test_good_names() -> None:
    for name in ("fedora", "F37_test-1.2", "a" * 64, "9lives"):
        assert check_name(name, existing={"other"}) == name


# -------------------------------------------------------------------- ISO


def test_iso_missing(tmp_path: Path) -> None:
    with pytest.raises(InvalidVMSpec, match="does not exist"):
        check_iso(tmp_path / "nope.iso")


def test_iso_directory(tmp_path: Path) -> None:
    with pytest.raises(InvalidVMSpec, match="is a directory"):
        check_iso(tmp_path)


def test_iso_text_file(reachable_dir: Path) -> None:
    f = reachable_dir / "notes.iso"
    f.write_text("hello\n" * 10000)
    with pytest.raises(InvalidVMSpec, match="not an ISO 9660 image"):
        check_iso(f)


def test_iso_empty_path() -> None:
    with pytest.raises(InvalidVMSpec, match="--iso"):
        check_iso("")


def test_iso_fifo(reachable_dir: Path) -> None:
    fifo = reachable_dir / "pipe.iso"
    os.mkfifo(fifo)
    try:
        with pytest.raises(InvalidVMSpec, match="not a regular file"):
            check_iso(fifo)
    finally:
        fifo.unlink()


@pytest.fixture
def private_dir() -> Iterator[Path]:
    """A 0700 directory like a user's $HOME, holding a valid ISO."""
    d = Path(tempfile.mkdtemp(prefix="ks-private-", dir="/tmp"))
    d.chmod(0o700)
    make_iso(d / "inst.iso", "Fedora-WS-Live-37-1-7")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_iso_unreachable_by_hypervisor(private_dir: Path) -> None:
    user = host.hypervisor_user("qemu:///system")
    assert user.uid != 0
    before = private_dir.stat().st_mode
    with pytest.raises(InvalidVMSpec) as e:
        check_iso(private_dir / "inst.iso", user)
    msg = e.value.message
    assert user.name in msg and str(private_dir) in msg and "0700" in msg
    assert "move the ISO" in msg and f"setfacl -m u:{user.name}:x {private_dir}" in msg
    assert private_dir.stat().st_mode == before  # nothing was chmod-ed


def test_iso_unreadable_file_without_dynamic_ownership(reachable_dir: Path) -> None:
    user = host.hypervisor_user("qemu:///system")
    plain = host.HypervisorUser(user.name, user.uid, user.gid, user.groups, False)
    iso = make_iso(reachable_dir / "secret.iso", "TESTOS")
    iso.chmod(0o600)
    with pytest.raises(InvalidVMSpec, match="cannot read the file") as e:
        check_iso(iso, plain)
    assert f"setfacl -m u:{user.name}:r {iso}" in e.value.message


def _acl(*entries: tuple[int, int, int]) -> bytes:
    """A POSIX access ACL in the kernel's xattr format (what setfacl writes)."""
    out = (2).to_bytes(4, "little")
    for tag, perm, ident in entries:
        out += tag.to_bytes(2, "little") + perm.to_bytes(2, "little")
        out += ident.to_bytes(4, "little")
    return out


def test_iso_acl_grant_is_honoured(private_dir: Path) -> None:
    """``setfacl -m u:libvirt-qemu:x DIR`` (the fix we suggest) makes the check pass."""
    user = host.hypervisor_user("qemu:///system")
    none = 0xFFFFFFFF
    # user::rwx, user:<hypervisor>:--x, group::---, mask::--x, other::---
    acl = _acl((0x01, 7, none), (0x02, 1, user.uid), (0x04, 0, none), (0x10, 1, none),
               (0x20, 0, none))  # fmt: skip
    with pytest.raises(InvalidVMSpec):
        check_iso(private_dir / "inst.iso", user)
    os.setxattr(private_dir, "system.posix_acl_access", acl)
    assert check_iso(private_dir / "inst.iso", user) == private_dir / "inst.iso"


def test_pool_folder_check_honours_acl_grant(
    private_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool folder check shares the ISO check's rules: an ACL grant counts."""
    from kernelswitch.vm import storage
    from kernelswitch.vm.connection import Connection
    from kernelswitch.vm.errors import HostError

    user = host.hypervisor_user("qemu:///system")
    monkeypatch.setattr(storage, "hypervisor_user", lambda _uri: user)
    pool = private_dir / "pool"
    pool.mkdir(mode=0o711)
    store = storage.Storage(Connection("qemu:///system"), pool)  # never opened
    with pytest.raises(HostError) as e:
        store._check_reachable()
    assert e.value.details["blocked"] == [str(private_dir)]
    assert f"chmod o+x {private_dir}" in e.value.message
    none = 0xFFFFFFFF
    acl = _acl((0x01, 7, none), (0x02, 1, user.uid), (0x04, 0, none), (0x10, 1, none),
               (0x20, 0, none))  # fmt: skip
    os.setxattr(private_dir, "system.posix_acl_access", acl)
    store._check_reachable()


def test_iso_ok(fedora_iso: Path) -> None:
    assert check_iso(fedora_iso, host.hypervisor_user("qemu:///system")) == fedora_iso


# ----------------------------------------------------------- whole specs


def test_resolve_identified_defaults(fedora_iso: Path) -> None:
    s, info = resolve_spec("f37", fedora_iso, limits=BIG)
    assert info.short_id == "fedora37" and s.os == "fedora37"
    assert s.memory == info.recommended_memory == 2 * GiB
    assert s.disk == info.recommended_storage
    assert s.cpus == 1 and s.start is True
    assert s.to_json()["iso"] == str(fedora_iso)


def test_resolve_defaults_capped_by_host(fedora_iso: Path) -> None:
    small = HostLimits(memory=3 * GiB, cpus=1, disk=12 * GiB)
    s, info = resolve_spec("f37", fedora_iso, limits=small)
    assert s.memory == max(int(3 * GiB * spec.DEFAULT_MEMORY_SHARE), info.minimum_memory or 0)
    assert s.disk == 12 * GiB


def test_resolve_unidentified_then_os(plain_iso: Path) -> None:
    with pytest.raises(OSNotIdentified):
        resolve_spec("p", plain_iso, limits=BIG)
    s, info = resolve_spec("p", plain_iso, os="generic", memory="256M", disk="1G", limits=BIG)
    assert info.is_generic and s.memory == 256 * MiB and s.disk == GiB


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"memory": "0"}, "greater than zero"),
        ({"memory": "-1G"}, "greater than zero"),
        ({"memory": "1Z"}, "unknown unit"),
        ({"disk": "0"}, "greater than zero"),
        ({"memory": "100G"}, "more than the host has available"),
        ({"disk": "9T"}, "more than the free space"),
        ({"cpus": 99}, "more than the host's"),
        ({"cpus": 0}, "at least 1"),
        ({"cpus": "two"}, "whole number"),
        ({"memory": "512M"}, "needs at least 1G of memory"),
        ({"disk": "1G"}, "needs a disk of at least 10G"),
        ({"os": "fedora73"}, "Unknown OS id"),
    ],
)
def test_resolve_bad(fedora_iso: Path, kwargs: dict[str, object], fragment: str) -> None:
    limits = HostLimits(memory=8 * GiB, cpus=2, disk=100 * GiB)
    args: dict[str, object] = {"os": "fedora37", **kwargs}
    with pytest.raises(InvalidVMSpec) as e:
        resolve_spec("f37", fedora_iso, limits=limits, **args)  # type: ignore[arg-type]
    assert fragment in e.value.message


def test_os_minimum_cpus(plain_iso: Path) -> None:
    with pytest.raises(InvalidVMSpec, match="more than the host's 1 CPUs"):
        resolve_spec("w", plain_iso, os="win11", limits=HostLimits(16 * GiB, 1, 100 * GiB))


def test_name_checked_before_iso(tmp_path: Path) -> None:
    with pytest.raises(InvalidVMSpec, match="contains"):
        resolve_spec("a<b", tmp_path / "missing.iso", limits=BIG)


def test_real_host_limits(fedora_iso: Path) -> None:
    limits = host.host_limits(fedora_iso.parent)
    assert limits.memory > 0 and limits.cpus >= 1 and (limits.disk or 0) > 0
    with pytest.raises(InvalidVMSpec, match="more than the host has available"):
        resolve_spec("f", fedora_iso, os="fedora37", memory=f"{limits.memory // MiB + 1}M")


def test_iso_symlink_resolves_to_the_file_qemu_opens(reachable_dir: Path) -> None:
    """Issue 15: the check and the domain XML use the link's target, not the link."""
    real = make_iso(reachable_dir / "real-target.iso", "TESTOS")
    link = reachable_dir / "latest.iso"
    link.symlink_to(real.name)
    try:
        assert check_iso(link, host.hypervisor_user("qemu:///system")) == real
    finally:
        link.unlink()


def test_iso_symlink_to_a_root_only_file_is_refused(reachable_dir: Path) -> None:
    """A link in a reachable folder to a file only root may read: refused, and the
    message names both; dynamic ownership no longer excuses it (cdroms are not
    relabelled, so libvirt would not chown the file for QEMU)."""
    user = host.hypervisor_user("qemu:///system")
    assert user.dynamic_ownership  # Debian's default, as on our machines
    secret = make_iso(reachable_dir / "root-only.iso", "TESTOS")
    secret.chmod(0o600)
    link = reachable_dir / "innocent.iso"
    link.symlink_to(secret)
    try:
        with pytest.raises(InvalidVMSpec, match="cannot read the file") as e:
            check_iso(link, user)
        assert f"{str(link)!r} (a link to {str(secret)!r})" in e.value.message
        assert f"setfacl -m u:{user.name}:r {secret}" in e.value.message
        assert secret.stat().st_uid == 0 and secret.stat().st_mode & 0o777 == 0o600
    finally:
        link.unlink()
