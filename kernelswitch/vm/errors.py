"""Errors of the VM subsystem. libvirt/gi errors are translated into these."""

from __future__ import annotations

from ..errors import KernelSwitchError


class VMError(KernelSwitchError):
    """Something about a VM went wrong; the message says what to do."""

    code = "vm_error"
    http_status = 500


class VMNotFound(VMError):
    code = "vm_not_found"
    http_status = 404


class VMExists(VMError):
    code = "vm_exists"
    http_status = 409


class InvalidVMSpec(VMError):
    """Bad user input (name, ISO, size, ...): nothing was created."""

    code = "invalid_vm_spec"
    http_status = 400


class OSNotIdentified(VMError):
    """libosinfo could not tell the ISO's OS; ``details['oses']`` lists choices."""

    code = "os_not_identified"
    http_status = 422


class VMStateError(VMError):
    """The operation does not fit the VM's state (start a running VM, ...)."""

    code = "vm_state"
    http_status = 409


class ShutdownTimeout(VMStateError):
    """The guest ignored the ACPI power button for the whole timeout."""

    code = "still_running"


class HostError(VMError):
    """The host cannot do it (libvirtd unreachable, no space, no accelerator)."""

    code = "host_error"
    http_status = 503


class PoolFull(HostError):
    """The storage pool's file system is full; ``details['available']`` says what is free."""

    code = "pool_full"
    http_status = 507


class VMBusy(VMStateError):
    """Another operation on the same VM is running; try again when it finishes."""

    code = "vm_busy"


class SnapshotNotFound(VMError):
    """No snapshot of that name on the VM; ``details['snapshots']`` lists the ones there are."""

    code = "snapshot_not_found"
    http_status = 404


class DiskNotFound(VMError):
    """No disk (of the VM, or in the pool) by that name or path."""

    code = "disk_not_found"
    http_status = 404


class DownloadError(VMError):
    """An ISO download failed (offline, cut, size or checksum mismatch)."""

    code = "download_failed"
    http_status = 502
