"""Manage verbs on a real guest (libvirtd, QEMU under TCG, the test OS).

One guest is shared by the module and the tests run in file order: media
eject/insert -> snapshot, marker, revert -> edit (memory, vCPUs) seen after a
power cycle -> grow a disk seen live -> add a disk -> clone (source shut off)
-> orphans.
The guest's answers come from its serial log (:mod:`.guest`). Every refusal
is checked to change nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import session_vms, unique_name, wait_serial
from .guest import Events, ask

pytestmark = pytest.mark.vm

SMALL = {"os": "alpinelinux3.17", "memory": "256M", "disk": "1G", "cpus": 1}
MiB = 1024**2


@pytest.fixture(scope="module")
def guest(vm_manager: Any, testos: dict) -> Iterator[dict]:
    name = unique_name("manage")
    info = vm_manager.create(name, str(testos["plain"]), **SMALL)
    wait_serial(info["serial_log"])
    yield info
    for n in (name, f"{name}-clone"):
        try:
            vm_manager.delete(n, disks=True, force=True)
        except Exception:
            pass


def _config(conn: Any, name: str) -> str:
    import libvirt

    return conn.lookupByName(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)


def _ask(conn: Any, guest: dict, command: str) -> str:
    return ask(conn, guest["name"], guest["serial_log"], command)


MEDIUM = "dd if=/dev/sr0 of=/dev/null bs=2048 count=1 2>/dev/null && echo yes || echo no"


# ------------------------------------------------------------ media


def test_eject_then_insert_guest_sees_it(
    vm_manager: Any, guest: dict, libvirt_conn: Any, testos: dict, tmp_path: Path
) -> None:
    from kernelswitch.vm.errors import InvalidVMSpec, VMStateError

    name = guest["name"]
    assert _ask(libvirt_conn, guest, MEDIUM) == "yes"
    events = Events()
    with vm_manager.events(events):
        info = vm_manager.eject(name)
        assert info["media_change"]["before"] == str(testos["plain"])
        assert [m["path"] for m in info["media"]] == [None]
        events.wait_for(lambda e: e.kind == "tray" and e.vm == name and e.event == "opened")
    # persistent too: the next boot has no disc either
    assert "testos-plain.iso" not in _config(libvirt_conn, name)
    assert _ask(libvirt_conn, guest, MEDIUM) == "no"

    # refusals, each changing nothing
    config = _config(libvirt_conn, name)
    with pytest.raises(VMStateError, match="nothing to eject"):
        vm_manager.eject(name)
    with pytest.raises(InvalidVMSpec, match="does not exist"):
        vm_manager.insert(name, str(tmp_path / "missing.iso"))
    hidden = tmp_path / "hidden"  # under pytest's 0700 temp dir: libvirt-qemu cannot enter
    hidden.mkdir()
    shutil.copy(testos["plain"], hidden / "x.iso")
    with pytest.raises(InvalidVMSpec, match=r"libvirt-qemu|cannot open"):
        vm_manager.insert(name, str(hidden / "x.iso"))
    (tmp_path / "not.iso").write_bytes(b"\0" * 40000)
    with pytest.raises(InvalidVMSpec, match="not an ISO"):
        vm_manager.insert(name, str(tmp_path / "not.iso"))
    assert _config(libvirt_conn, name) == config
    assert [m["path"] for m in vm_manager.info(name)["media"]] == [None]

    with vm_manager.events(events):
        info = vm_manager.insert(name, str(testos["plain"]))
        assert [m["path"] for m in info["media"]] == [str(testos["plain"])]
        events.wait_for(lambda e: e.kind == "tray" and e.vm == name and e.event == "closed")
    assert "testos-plain.iso" in _config(libvirt_conn, name)
    # the guest's first read after a change may get SCSI's "medium changed" notice
    seen = [_ask(libvirt_conn, guest, MEDIUM) for _ in range(2)]
    assert seen[-1] == "yes", seen


# ------------------------------------------------------------ snapshots

MARK = "KSMARK42"
WRITE = f"echo {MARK} | dd of=/dev/vda bs=512 seek=2048 conv=notrunc,fsync 2>/dev/null; echo ok"
READ = "dd if=/dev/vda bs=512 skip=2048 count=1 2>/dev/null | tr -dc A-Z0-9"


def test_snapshot_marker_revert_delete(vm_manager: Any, guest: dict, libvirt_conn: Any) -> None:
    from kernelswitch.vm.errors import InvalidVMSpec, SnapshotNotFound

    name = guest["name"]
    assert vm_manager.snapshots(name) == []
    snap = vm_manager.snapshot_create(name, "before-mark", "clean disk")
    assert (snap["name"], snap["state"], snap["kind"]) == ("before-mark", "running", "internal")
    assert _ask(libvirt_conn, guest, WRITE) == "ok"
    assert _ask(libvirt_conn, guest, READ) == MARK

    [listed] = vm_manager.snapshots(name)
    assert listed["name"] == "before-mark" and listed["current"]
    assert abs(listed["created_ts"] - time.time()) < 600 and listed["description"] == "clean disk"

    with pytest.raises(SnapshotNotFound, match="before-mark"):  # the message lists what exists
        vm_manager.snapshot_revert(name, "no-such-snap")
    with pytest.raises(InvalidVMSpec, match="already has"):
        vm_manager.snapshot_create(name, "before-mark")
    with pytest.raises(InvalidVMSpec, match="not valid"):
        vm_manager.snapshot_create(name, "bad name!")
    assert [s["name"] for s in vm_manager.snapshots(name)] == ["before-mark"]
    assert _ask(libvirt_conn, guest, READ) == MARK  # the refusals did not revert

    info = vm_manager.snapshot_revert(name, "before-mark")
    assert info["state"] == "running"
    assert _ask(libvirt_conn, guest, READ) == ""  # the marker is gone

    answer = vm_manager.snapshot_delete(name, "before-mark")
    assert answer["snapshots"] == []
    with pytest.raises(SnapshotNotFound):
        vm_manager.snapshot_delete(name, "before-mark")


def test_snapshot_refused_for_raw_disk_and_uefi(vm_manager: Any, testos: dict) -> None:
    """Defined, never started: the checks read the definition before libvirt is asked."""
    from kernelswitch.vm.errors import VMError

    name = unique_name("nosnap")
    info = vm_manager.create(name, str(testos["plain"]), start=False, **SMALL)
    conn = vm_manager.connection.conn()
    try:
        xml = conn.lookupByName(name).XMLDesc(0)
        raw = xml.replace("type='qcow2'", "type='raw'").replace('type="qcow2"', 'type="raw"')
        conn.defineXML(raw)
        with pytest.raises(VMError, match="raw disk"):
            vm_manager.snapshot_create(name, "s1")
        root = ET.fromstring(xml)
        os_el = root.find("os")
        assert os_el is not None
        os_el.set("firmware", "efi")
        conn.defineXML(ET.tostring(root, encoding="unicode"))
        with pytest.raises(VMError, match="UEFI"):
            vm_manager.snapshot_create(name, "s1")
        assert vm_manager.snapshots(name) == []
    finally:
        vm_manager.delete(name, disks=True)
    assert not Path(info["disks"][0]["path"]).exists()


# ------------------------------------------------------------ edit


def test_edit_memory_and_cpus_seen_after_power_cycle(
    vm_manager: Any, guest: dict, libvirt_conn: Any
) -> None:
    from kernelswitch.vm.errors import InvalidVMSpec

    name = guest["name"]
    before_kib = int(_ask(libvirt_conn, guest, "grep MemTotal /proc/meminfo | tr -dc 0-9"))
    config = _config(libvirt_conn, name)
    for bad in ({"memory": "lots"}, {"cpus": 0}, {"memory": "64T"}, {"autostart": "maybe"}, {}):
        with pytest.raises(InvalidVMSpec):
            vm_manager.edit(name, **bad)
    assert _config(libvirt_conn, name) == config

    info = vm_manager.edit(name, memory="384M", cpus=2, autostart="on")
    changes = {c["what"]: c for c in info["changes"]}
    assert changes["memory"]["applies"] == "next boot"  # no balloon driver in the test OS
    assert "shut the VM down and start it again" in changes["memory"]["note"]
    assert changes["cpus"]["applies"] == "next boot"  # started with at most 1 vCPU
    assert changes["autostart"]["after"] is True and info["autostart"] is True
    assert changes["memory"]["after"] == 384 * MiB and changes["cpus"]["after"] == 2
    assert info["memory"] == 256 * MiB and info["vcpus"] == 1  # still, until the power cycle
    defined = ET.fromstring(_config(libvirt_conn, name))
    assert (defined.findtext("memory"), defined.findtext("vcpu")) == (str(384 * 1024), "2")

    vm_manager.destroy(name)
    count = Path(guest["serial_log"]).read_text(errors="replace").count("TESTOS-READY")
    vm_manager.start(name)
    wait_serial(guest["serial_log"], count=count + 1)
    after_kib = int(_ask(libvirt_conn, guest, "grep MemTotal /proc/meminfo | tr -dc 0-9"))
    assert after_kib - before_kib > 100 * 1024  # +128 MiB, minus what the kernel keeps
    assert _ask(libvirt_conn, guest, "grep -c ^processor /proc/cpuinfo") == "2"
    assert vm_manager.edit(name, autostart="off")["autostart"] is False


def test_grow_disk_seen_live_and_shrink_refused(
    vm_manager: Any, guest: dict, libvirt_conn: Any
) -> None:
    from kernelswitch.vm.errors import DiskNotFound, InvalidVMSpec

    name = guest["name"]
    sectors = "cat /sys/block/vda/size"
    assert _ask(libvirt_conn, guest, sectors) == str(1024**3 // 512)
    config = _config(libvirt_conn, name)
    with pytest.raises(InvalidVMSpec, match="shrink"):
        vm_manager.edit(name, grow={"disk": "vda", "size": "512M"})
    with pytest.raises(DiskNotFound, match="vdz"):
        vm_manager.edit(name, grow={"disk": "vdz", "size": "2G"})
    assert _config(libvirt_conn, name) == config
    info = vm_manager.edit(name, grow={"disk": "vda", "size": "2G"})
    [change] = info["changes"]
    assert change["applies"] == "now" and info["disks"][0]["capacity"] == 2 * 1024**3
    assert _ask(libvirt_conn, guest, sectors) == str(2 * 1024**3 // 512)


def test_add_disk_hot_plugged(vm_manager: Any, guest: dict, libvirt_conn: Any) -> None:
    name = guest["name"]
    info = vm_manager.edit(name, add_disk="64M")
    [change] = info["changes"]
    assert change["what"] == "disk vdb" and change["after"]["capacity"] == 64 * MiB
    assert Path(change["after"]["path"]).is_file()
    assert [d["target"] for d in info["disks"]] == ["vda", "vdb"]
    assert "vdb" in _config(libvirt_conn, name)  # kept for the next boot too
    # q35 has a free PCIe port: hot-plugged, and the guest sees it now
    assert (change["applies"], change["note"]) == ("now and next boot", "hot-plugged")
    seen = ""
    for _ in range(10):
        seen = _ask(libvirt_conn, guest, "cat /sys/block/vdb/size 2>/dev/null")
        if seen:
            break
        time.sleep(1)
    assert seen == str(64 * MiB // 512)


# ------------------------------------------------------------ clone and orphans


def test_clone_boots_and_source_keeps_its_disk(
    vm_manager: Any, guest: dict, libvirt_conn: Any
) -> None:
    from kernelswitch.vm.errors import VMExists, VMStateError

    name = guest["name"]
    new = f"{name}-clone"
    names = set(session_vms(vm_manager))
    with pytest.raises(VMStateError, match=r"[Ss]hut it down"):
        vm_manager.clone(name, new)
    vm_manager.destroy(name)
    with pytest.raises(VMExists):
        vm_manager.clone(name, name)
    assert set(session_vms(vm_manager)) == names  # (other sessions' VMs come and go)

    source = vm_manager.info(name)
    src_disks = [d["path"] for d in source["disks"]]
    src_disk = src_disks[0]
    lines: list[str] = []
    clone = vm_manager.clone(name, new, progress=lines.append)
    assert sum("copying" in line for line in lines) == len(src_disks) == 2  # vda and vdb
    copied = clone["clone"]["copied"]
    assert [c["from"] for c in copied] == src_disks
    assert not {c["to"] for c in copied} & set(src_disks)
    assert clone["uuid"] != source["uuid"]
    assert clone["interfaces"][0]["mac"] != source["interfaces"][0]["mac"]
    assert clone["serial_log"] != source["serial_log"]
    assert clone["disks"][0]["capacity"] == source["disks"][0]["capacity"]

    vm_manager.start(new)
    wait_serial(clone["serial_log"])
    assert vm_manager.info(name)["disks"][0]["path"] == src_disk and Path(src_disk).is_file()
    assert _ask(libvirt_conn, {**clone, "name": new}, "cat /sys/block/vda/size") == str(
        2 * 1024**3 // 512
    )  # the grown disk was copied whole

    # `vm delete` keeps the clone's disk: `disks` shows it as an orphan and deletes it
    answer = vm_manager.delete(new, force=True)
    kept = [k["path"] for k in answer["kept_disks"]]
    assert kept == [c["to"] for c in copied]
    rows = {d["path"]: d for d in vm_manager.disks()["disks"]}
    assert all(rows[p]["orphan"] and rows[p]["vms"] == [] for p in kept)
    assert [r["path"] for r in vm_manager.delete_disks(kept)["removed"]] == kept
    assert not any(Path(p).exists() for p in kept)
    assert all(Path(p).is_file() for p in src_disks)


def test_disks_find_a_hand_made_orphan_and_delete_only_it(
    vm_manager: Any, guest: dict
) -> None:
    from kernelswitch.vm.errors import DiskNotFound, InvalidVMSpec

    pool = Path(vm_manager.storage.pool_path())
    orphan = pool / f"{unique_name('orphan')}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(orphan), "16M"], check=True)
    try:
        listing = vm_manager.disks()
        rows = {d["path"]: d for d in listing["disks"]}
        assert rows[str(orphan)]["orphan"] and rows[str(orphan)]["capacity"] == 16 * MiB
        own = vm_manager.info(guest["name"])["disks"][0]["path"]
        assert rows[own]["vms"] == [guest["name"]] and not rows[own]["orphan"]
        totals = listing["totals"]
        assert totals["orphans"] >= 1 and totals["count"] == len(listing["disks"])
        assert totals["allocation"] == sum(d["allocation"] or 0 for d in listing["disks"])

        # refusals delete nothing, not even the orphan named alongside
        with pytest.raises(InvalidVMSpec, match="used by VM"):
            vm_manager.delete_disks([str(orphan), own])
        with pytest.raises(DiskNotFound, match="no-such-disk"):
            vm_manager.delete_disks([orphan.name, "no-such-disk.qcow2"])
        assert orphan.exists() and Path(own).exists()

        answer = vm_manager.delete_disks([orphan.name])
        assert [r["path"] for r in answer["removed"]] == [str(orphan)]
        assert answer["freed"] == rows[str(orphan)]["allocation"]
        assert not orphan.exists() and Path(own).exists()
    finally:
        orphan.unlink(missing_ok=True)
