"""Change a VM: memory, vCPUs, autostart, add a disk, grow a disk.

Public API (stable): :func:`edit` ``(manager, name, memory=None, cpus=None,
autostart=None, add_disk=None, grow=None)``, reached as ``VMManager.edit``;
*grow* is ``{"disk": "vda", "size": "20G"}``. Answers the VM's info plus
``changes``: one entry per change with ``what, before, after, applies``
(``now`` / ``next boot`` / ``now and next boot``) and a ``note``.

Why this order: every input is validated, and every refusal decided, before
the first change, so a bad request changes nothing. Changes apply live where
the guest allows it (vCPU hot-plug up to the VM's maximum, a memory balloon the
guest's driver honours, a disk grown under a running guest), else from the
next boot — which means a shutdown and start, since a reboot from inside the
guest keeps the running QEMU — and the answer says which.
"""

from __future__ import annotations

from typing import Any

from .._common import human_size
from ._domains import translate
from ._xml import disk_source, disk_target, find_disk, inactive_xml, to_string
from .connection import libvirt_module
from .errors import InvalidVMSpec, VMError
from .journal import journal_for

__all__ = ["edit"]

NEXT_BOOT_NOTE = (
    "shut the VM down and start it again to apply (a reboot from inside keeps the old value)"
)


def _cpus(value: Any) -> int:
    try:
        n = int(str(value).strip())
    except ValueError:
        n = 0
    if n < 1:
        msg = f"cpus must be a whole number of at least 1 (got {value!r}); e.g. --cpus 2."
        raise InvalidVMSpec(msg, details={"value": str(value)})
    return n


def _autostart(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("on", "true", "1", "yes"):
        return True
    if text in ("off", "false", "0", "no"):
        return False
    raise InvalidVMSpec(f"autostart must be on or off, not {value!r}.")


def edit(
    manager: Any,
    name: str,
    memory: Any = None,
    cpus: Any = None,
    autostart: Any = None,
    add_disk: Any = None,
    grow: dict[str, Any] | None = None,
) -> dict[str, Any]:
    from .host import cpu_count, memory_info
    from .spec import parse_size

    if all(v is None for v in (memory, cpus, autostart, add_disk, grow)):
        raise InvalidVMSpec(
            "Nothing to change: pass --memory, --cpus, --autostart, --add-disk or --grow."
        )
    mem = parse_size(memory, "M", what="memory") if memory is not None else None
    ncpu = _cpus(cpus) if cpus is not None else None
    auto = _autostart(autostart) if autostart is not None else None
    new_disk = parse_size(add_disk, "G", what="disk size") if add_disk is not None else None
    grow_to = None
    if grow is not None:
        if not isinstance(grow, dict) or "size" not in grow:
            raise InvalidVMSpec("grow needs a disk and a size, e.g. --grow vda 20G.")
        grow_to = parse_size(grow["size"], "G", what="disk size")
    total = memory_info().get("total")
    if mem is not None and total and mem > total:
        msg = (
            f"memory {human_size(mem)} is more than this host has ({human_size(total)}); "
            "choose less."
        )
        raise InvalidVMSpec(msg, details={"memory": mem})
    if ncpu is not None and ncpu > cpu_count():
        msg = f"{ncpu} vCPUs is more than this host's {cpu_count()} CPUs; choose fewer."
        raise InvalidVMSpec(msg, details={"cpus": ncpu})

    def plan_and_apply(dom: Any) -> list[dict[str, Any]]:
        grow_disk = None
        if grow is not None:
            grow_disk = _check_grow(manager, dom, name, grow.get("disk"), grow_to)
        if auto is not None and not dom.isPersistent():
            raise VMError(f"VM {name!r} is transient: it has no autostart setting.")
        changes = []
        if mem is not None:
            changes.append(_set_memory(dom, mem))
        if ncpu is not None:
            changes.append(_set_cpus(dom, ncpu))
        if auto is not None:
            before = bool(dom.autostart())
            dom.setAutostart(int(auto))
            changes.append(_change("autostart", before, auto, "host start", ""))
        if grow_disk is not None:
            changes.append(_grow(manager, dom, grow_disk, grow_to))
        if new_disk is not None:
            changes.append(_add_disk(manager, dom, name, new_disk))
        return changes

    changes = manager._on_domain(name, plan_and_apply)
    return {**manager.info(name), "changes": changes}


def _change(what: str, before: Any, after: Any, applies: str, note: str) -> dict[str, Any]:
    return {"what": what, "before": before, "after": after, "applies": applies, "note": note}


def _set_memory(dom: Any, size: int) -> dict[str, Any]:
    libvirt = libvirt_module()
    kib = size // 1024
    cfg = libvirt.VIR_DOMAIN_AFFECT_CONFIG
    root = inactive_xml(dom)
    before_kib = int(root.findtext("memory") or 0)
    # current <= maximum at every step: raise the maximum first, lower it last.
    if kib >= before_kib:
        dom.setMemoryFlags(kib, cfg | libvirt.VIR_DOMAIN_MEM_MAXIMUM)
        dom.setMemoryFlags(kib, cfg)
    else:
        dom.setMemoryFlags(kib, cfg)
        dom.setMemoryFlags(kib, cfg | libvirt.VIR_DOMAIN_MEM_MAXIMUM)
    applies, note = "next boot", NEXT_BOOT_NOTE
    if dom.isActive():
        # Live only through a balloon whose guest driver reports back (it honours it).
        stats = _safe_stats(dom)
        if "available" in stats and kib <= dom.maxMemory():
            dom.setMemoryFlags(kib, libvirt.VIR_DOMAIN_AFFECT_LIVE)
            applies, note = "now and next boot", "the guest's balloon driver gives it back now"
        else:
            note = "the guest has no active memory balloon; " + NEXT_BOOT_NOTE
    else:
        applies, note = "next boot", "the VM is off: it starts with this size"
    return _change("memory", before_kib * 1024, size, applies, note)


def _safe_stats(dom: Any) -> dict[str, int]:
    try:
        return dict(dom.memoryStats())
    except Exception:
        return {}


def _set_cpus(dom: Any, n: int) -> dict[str, Any]:
    libvirt = libvirt_module()
    cfg = libvirt.VIR_DOMAIN_AFFECT_CONFIG
    root = inactive_xml(dom)
    before = int(root.findtext("vcpu") or 1)
    if n >= before:
        dom.setVcpusFlags(n, cfg | libvirt.VIR_DOMAIN_VCPU_MAXIMUM)
        dom.setVcpusFlags(n, cfg)
    else:
        dom.setVcpusFlags(n, cfg)
        dom.setVcpusFlags(n, cfg | libvirt.VIR_DOMAIN_VCPU_MAXIMUM)
    if not dom.isActive():
        return _change("cpus", before, n, "next boot", "the VM is off: it starts with this many")
    try:
        live_max = dom.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_LIVE | libvirt.VIR_DOMAIN_VCPU_MAXIMUM)
        if n <= live_max:
            dom.setVcpusFlags(n, libvirt.VIR_DOMAIN_AFFECT_LIVE)
            return _change("cpus", before, n, "now and next boot", "hot-plugged")
        why = f"the running VM was started with at most {live_max} vCPU(s)"
    except libvirt.libvirtError as e:
        why = f"the guest refused a hot-plug ({e.get_error_message()})"
    return _change("cpus", before, n, "next boot", f"{why}; {NEXT_BOOT_NOTE}")


def _check_grow(manager: Any, dom: Any, vm: str, disk: Any, size: int | None) -> dict[str, Any]:
    el = find_disk(inactive_xml(dom), disk if disk else None, device="disk", vm=vm)
    path = disk_source(el)
    if not path:
        raise VMError(f"Disk {disk_target(el)} of VM {vm!r} has no file to grow.")
    capacity = manager._disk_sizes(dom, path)["capacity"]
    if capacity is None:
        raise VMError(f"Cannot read the size of {path}; is the file there?")
    assert size is not None
    if size < capacity:
        msg = (
            f"{disk_target(el)} is {human_size(capacity)}; {human_size(size)} would shrink it "
            "and destroy the data at its end. kernelswitch only grows disks: give a size "
            f"larger than {human_size(capacity)}."
        )
        raise InvalidVMSpec(msg, details={"disk": disk_target(el), "capacity": capacity})
    if size == capacity:
        raise InvalidVMSpec(f"{disk_target(el)} is already {human_size(capacity)}.")
    return {"target": disk_target(el), "path": path, "capacity": capacity}


def _grow(manager: Any, dom: Any, disk: dict[str, Any], size: int | None) -> dict[str, Any]:
    libvirt = libvirt_module()
    assert size is not None
    if dom.isActive():
        # QEMU resizes the image and tells the guest (virtio-blk sees it at once).
        dom.blockResize(disk["path"], size, libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES)
        applies, note = "now", "the guest sees the new size; grow its partition to use it"
    else:
        vol = dom.connect().storageVolLookupByPath(disk["path"])
        vol.resize(size, 0)
        applies, note = "next boot", "grow the guest's partition to use the new space"
    what = f"disk {disk['target']}"
    return _change(what, disk["capacity"], size, applies, note)


def _add_disk(manager: Any, dom: Any, vm: str, size: int) -> dict[str, Any]:
    import xml.etree.ElementTree as ET

    libvirt = libvirt_module()
    root = inactive_xml(dom)
    disks = root.findall("./devices/disk")
    used = {disk_target(d) for d in disks}
    first = next((d for d in disks if d.get("device", "disk") == "disk"), None)
    bus = "virtio"
    if first is not None and first.find("target") is not None:
        bus = first.find("target").get("bus", "virtio")  # type: ignore[union-attr]
    prefix = "vd" if bus == "virtio" else "sd"
    free = (f"{prefix}{c}" for c in "abcdefghijklmnopqrstuvwxyz" if f"{prefix}{c}" not in used)
    target = next(free)
    # journaled (.journal): a volume made, or attached, by a call that then
    # failed is removed, now or once libvirtd is back
    op = journal_for(manager.connection).begin("add-disk", vm)
    try:
        vol = manager.storage.create_volume(
            vm, size, before=lambda path: op.will_make("volume", path)
        )
        op.made(vol.path)
        el = ET.Element("disk", type="file", device="disk")
        ET.SubElement(el, "driver", name="qemu", type="qcow2", discard="unmap")
        ET.SubElement(el, "source", file=vol.path)
        ET.SubElement(el, "target", dev=target, bus=bus)
        xml = to_string(el)
        op.will_make("attached", vol.path, uuid=dom.UUIDString(), name=vm)
        dom.attachDeviceFlags(xml, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
        op.made(vol.path)
    except BaseException as e:
        # translated here: a raw connection error would make Connection.call
        # run the whole edit again after reconnecting
        err = translate(e, vm, manager.storage) if isinstance(e, Exception) else e
        op.undo().annotate(err)
        if err is e:
            raise
        raise err from e
    op.commit()
    applies, note = "next boot", NEXT_BOOT_NOTE
    if dom.isActive():
        try:
            dom.attachDeviceFlags(xml, libvirt.VIR_DOMAIN_AFFECT_LIVE)
            applies, note = "now and next boot", "hot-plugged"
        except libvirt.libvirtError as e:
            note = f"no hot-plug now ({e.get_error_message()}); {NEXT_BOOT_NOTE}"
    return _change(f"disk {target}", None, {"path": vol.path, "capacity": size}, applies, note)
