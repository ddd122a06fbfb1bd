"""The VM manager and create-VM form widgets (anywidget; kernel side).

Public API (stable):

- :class:`VMManager` ``()`` — a live list of the VMs (pushed by the server's
  events websocket, no polling) with their state, OS, memory, vCPUs, disk use
  and a live thumbnail; per-VM actions
  that fit the state (start, shut down, force off, reboot, pause/resume, open
  the console below, delete with a confirmation that says whether the disks
  are kept); the storage pool's use. ``vms`` and ``storage`` hold what the view
  last showed; ``refresh()`` asks it to fetch everything again now.
- :class:`CreateVM` ``(iso="", name="", os="", memory="", cpus="", disk="",
  start=True)`` — the form: the ISO (with the ISOs already downloaded), the OS
  libosinfo identifies (and a chooser to override it), sizes prefilled from
  the OS's recommendations capped by the host, the name checked as it is
  typed, Create with the elapsed time, and the result (``created``) or the
  error by field (``errors``).

Why the front end does the work: it calls the server's REST API with the
page's own credentials, so VM lists, previews and the console's frames go
server -> browser and never through the kernel; the kernel side holds state
only, and loads in an env that has nothing but ipykernel (without anywidget
the classes say how to get it, like :class:`~.widgets.EnvPicker`).
"""

from __future__ import annotations

from typing import Any

from traitlets import Bool, Dict, List, Unicode

from .widgets import _KSWidget

__all__ = ["CreateVM", "VMManager"]


class VMManager(_KSWidget):
    """Every VM of the server, live, with the actions that fit each one's state."""

    _view = Unicode("vm-manager").tag(sync=True)

    vms = List(
        Dict(),
        help="VM records as GET kernelswitch/api/vms returns them; updated when a VM's name, "
        "state, OS, sizes, disks or preview change.",
    ).tag(sync=True)
    storage = Dict(help="The disk pool as GET kernelswitch/api/storage returns it.").tag(sync=True)
    status = Unicode("loading", help="loading, ready or error.").tag(sync=True)
    error = Unicode("", help="Why the last list request failed.").tag(sync=True)
    last_action = Dict(
        help="The last action: {vm, action, ok, message} (message: the server's error)."
    ).tag(sync=True)

    def refresh(self) -> None:
        """Ask the view to fetch the list and storage again now (changes are pushed anyway)."""
        self.send({"type": "refresh"})

    def vm(self, name: str) -> dict[str, Any] | None:
        """The last fetched record of VM *name*, if it is listed."""
        for record in self.vms:
            if record.get("name") == name:
                return dict(record)
        return None


class CreateVM(_KSWidget):
    """A form that makes a VM from an installer ISO, checked field by field as you type."""

    _view = Unicode("create-vm").tag(sync=True)

    iso = Unicode("", help="Absolute path of the installer ISO on the server host.").tag(sync=True)
    name = Unicode("", help="Name of the new VM.").tag(sync=True)
    os = Unicode("", help="osinfo short id; '' to use the one identified from the ISO.").tag(
        sync=True
    )
    memory = Unicode("", help="Memory like 2G ('' for the OS's recommendation).").tag(sync=True)
    cpus = Unicode("", help="Virtual CPUs ('' for the OS's recommendation).").tag(sync=True)
    disk = Unicode("", help="Disk size like 20G ('' for the OS's recommendation).").tag(sync=True)
    start = Bool(True, help="Start the VM once it is made.").tag(sync=True)
    uri = Unicode("", help="The host it goes to (a configured URI); '' for the first.").tag(
        sync=True
    )
    shares = List(Unicode(), help="Shared folders, each DIR[:TAG] (local host only).").tag(
        sync=True
    )
    status = Unicode(
        "editing", help="editing, creating, created or error (the create failed)."
    ).tag(sync=True)
    errors = Dict(help="Field -> what is wrong with it (the server's words).").tag(sync=True)
    created = Dict(help="The new VM's record once created.").tag(sync=True)

    def __init__(
        self,
        iso: str = "",
        name: str = "",
        os: str = "",  # the REST key's name
        memory: str | int = "",
        cpus: str | int = "",
        disk: str | int = "",
        start: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            iso=str(iso),
            name=str(name),
            os=str(os),
            memory=str(memory),
            cpus=str(cpus),
            disk=str(disk),
            start=bool(start),
            **kwargs,
        )
