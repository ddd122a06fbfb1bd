"""Issue 15: a user's paths cannot make libvirt chown or QEMU open what nobody checked.

An ISO given as a symlink used to pass the create check; pointed at a
root-only file, QEMU opened it and libvirt's dynamic ownership left that file
owned by libvirt-qemu. Real libvirtd (qemu:///session as root, so guests run
as libvirt-qemu with dynamic ownership on), real QEMU, real files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import unique_name

pytestmark = pytest.mark.vm


@pytest.fixture
def iso_folder(testos: dict[str, Path]) -> Iterator[Path]:
    """A folder the hypervisor user can enter, holding a root-owned 0644 copy of
    the test OS (what a user's download looks like)."""
    d = Path(tempfile.mkdtemp(prefix="ks-userpaths-", dir="/tmp"))
    d.chmod(0o755)  # our own fresh folder
    shutil.copyfile(testos["fedora"], d / "fedora.iso")
    (d / "fedora.iso").chmod(0o644)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _cdrom_sources(libvirt_conn: Any, name: str) -> list[ET.Element]:
    import libvirt

    xml = libvirt_conn.lookupByName(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    return ET.fromstring(xml).findall("./devices/disk[@device='cdrom']/source")


def _owner(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_uid, st.st_mode & 0o7777


def test_symlinked_iso_is_stored_as_its_real_file(
    vm_manager: Any, iso_folder: Path, libvirt_conn: Any
) -> None:
    link = iso_folder / "latest.iso"
    link.symlink_to("fedora.iso")
    name = unique_name("link")
    info = vm_manager.create(name, str(link), memory="1G", disk="10G", start=False)
    try:
        assert [m["path"] for m in info["media"]] == [str(iso_folder / "fedora.iso")]
        (source,) = _cdrom_sources(libvirt_conn, name)
        assert source.get("file") == str(iso_folder / "fedora.iso")
        label = source.find("seclabel")
        assert label is not None and label.attrib == {"model": "dac", "relabel": "no"}
        # insert resolves links the same way, and the new disc is not relabelled either
        shutil.copyfile(iso_folder / "fedora.iso", iso_folder / "other.iso")
        (iso_folder / "next.iso").symlink_to("other.iso")
        changed = vm_manager.insert(name, str(iso_folder / "next.iso"))
        assert changed["media_change"]["after"] == str(iso_folder / "other.iso")
        (source,) = _cdrom_sources(libvirt_conn, name)
        assert source.get("file") == str(iso_folder / "other.iso")
        label = source.find("seclabel")
        assert label is not None and label.get("relabel") == "no"
    finally:
        vm_manager.delete(name, disks=True)


def test_iso_swapped_for_a_link_to_a_root_only_file_is_refused_at_start(
    vm_manager: Any, iso_folder: Path
) -> None:
    from kernelswitch.vm.errors import VMStateError

    iso = iso_folder / "fedora.iso"
    name = unique_name("swap")
    vm_manager.create(name, str(iso), memory="1G", disk="10G", start=False)
    secret = iso_folder / "root-only.iso"
    shutil.copyfile(iso, secret)
    secret.chmod(0o600)
    try:
        iso.unlink()
        iso.symlink_to(secret)
        with pytest.raises(VMStateError, match="is now a link") as e:
            vm_manager.start(name)
        assert str(secret) in e.value.message and f"vm insert {name}" in e.value.message
        assert vm_manager.state(name) == "shutoff"
        assert _owner(secret) == (0, 0o600)

        # the file itself made unreadable to the hypervisor: refused, saying so
        iso.unlink()
        shutil.copyfile(secret, iso)
        iso.chmod(0o600)
        with pytest.raises(VMStateError, match="cannot read the file") as e:
            vm_manager.start(name)
        assert "setfacl -m u:libvirt-qemu:r" in e.value.message
        assert "vm eject" in e.value.message
        assert _owner(iso) == (0, 0o600) and vm_manager.state(name) == "shutoff"
    finally:
        vm_manager.delete(name, disks=True, force=True)


def test_start_never_chowns_the_iso_even_for_an_old_definition(
    vm_manager: Any, iso_folder: Path, libvirt_conn: Any, test_limits: Any
) -> None:
    """A VM defined before cdroms carried ``relabel='no'`` gets it at start, and
    the ISO stays root's while the guest runs and after it is destroyed."""
    import libvirt

    iso = iso_folder / "fedora.iso"
    name = unique_name("label")
    vm_manager.create(name, str(iso), limits=test_limits, disk="10G", start=False)
    try:
        dom = libvirt_conn.lookupByName(name)
        root = ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        drive = root.find("./devices/disk[@device='cdrom']")
        assert drive is not None
        source = drive.find("source")
        assert source is not None
        for label in source.findall("seclabel"):
            source.remove(label)
        dom.updateDeviceFlags(ET.tostring(drive, encoding="unicode"),
                              libvirt.VIR_DOMAIN_AFFECT_CONFIG)  # fmt: skip
        assert _cdrom_sources(libvirt_conn, name)[0].find("seclabel") is None

        vm_manager.start(name)
        (source,) = _cdrom_sources(libvirt_conn, name)
        label = source.find("seclabel")
        assert label is not None and label.get("relabel") == "no"
        assert vm_manager.state(name) == "running"
        assert _owner(iso) == (0, 0o644)  # libvirt did not hand it to libvirt-qemu
        vm_manager.destroy(name)
        assert _owner(iso) == (0, 0o644)
    finally:
        vm_manager.delete(name, disks=True, force=True)


def test_previews_go_with_their_vm(vm_manager: Any, iso_folder: Path, libvirt_conn: Any) -> None:
    """Deleted by us, or undefined by anyone else (seen through libvirt's events)."""
    ours = unique_name("prev")
    vm_manager.create(ours, str(iso_folder / "fedora.iso"), memory="1G", disk="10G",
                      start=False)  # fmt: skip
    preview = vm_manager.preview_file(ours)
    preview.parent.mkdir(parents=True, exist_ok=True)
    preview.write_bytes(b"\x89PNG fake")
    assert vm_manager.info(ours)["preview"]
    vm_manager.delete(ours, disks=True)
    assert not preview.exists()

    theirs = unique_name("prev")
    info = vm_manager.create(theirs, str(iso_folder / "fedora.iso"), memory="1G", disk="10G",
                             start=False)  # fmt: skip
    preview = vm_manager.preview_file(theirs)
    preview.write_bytes(b"\x89PNG fake")
    try:
        libvirt_conn.lookupByName(theirs).undefine()  # as `virsh undefine` would
        deadline = time.monotonic() + 10
        while preview.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not preview.exists()
    finally:
        for disk in info["disks"]:
            if disk["path"]:
                vm_manager.storage.delete_path(disk["path"])


def test_a_pool_folder_the_existing_pool_does_not_use_is_an_error(
    vm_manager: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from kernelswitch.vm.errors import HostError
    from kernelswitch.vm.storage import Storage

    real = vm_manager.storage.pool_path()
    monkeypatch.setenv("KERNELSWITCH_POOL_DIR", str(tmp_path / "elsewhere"))
    with pytest.raises(HostError) as e:
        Storage(vm_manager.connection).ensure_pool()
    msg = e.value.message
    assert "KERNELSWITCH_POOL_DIR asks for VM disks in" in msg
    assert str(tmp_path / "elsewhere") in msg and str(real) in msg and "virsh pool-" in msg
    assert not (tmp_path / "elsewhere").exists()
    monkeypatch.setenv("KERNELSWITCH_POOL_DIR", str(real))  # the same folder: fine
    Storage(vm_manager.connection).ensure_pool()
