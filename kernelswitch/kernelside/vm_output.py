"""What a ``vm`` command answers: :class:`Result`, and :func:`format_human`, the
text a person reads (``result.to_json()`` is the ``--json`` answer).

Kernel side: nothing here imports ``vm/``, ``server/`` or libvirt.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .._common import human_size
from .format import table
from .vm_manage_grammar import format_manage
from .vm_reach_grammar import format_reach, forward_lines, share_lines
from .vm_widget_verbs import WIDGET_VERBS, format_widget_verb

__all__ = ["Result", "format_human"]


@dataclasses.dataclass
class Result:
    verb: str
    data: Any

    def to_json(self) -> Any:
        return self.data


def _size(n: int | None) -> str:
    return human_size(n) if n else "-"


def _os_label(os_id: str | None) -> str:
    """``http://fedoraproject.org/fedora/37`` -> ``fedora/37``."""
    if not os_id:
        return "-"
    parts = os_id.rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) > 3 else os_id


def format_human(result: Result, prog: str = "kernelswitch vm") -> str:
    """What a person reads after a ``vm`` command (*prog* as the user typed it)."""
    data = result.data
    managed = format_manage(result.verb, data, prog, lambda d: _info_text(d))
    if managed is not None:
        return managed
    reached = format_reach(result.verb, data, prog)
    if reached is not None:
        return reached
    if result.verb in WIDGET_VERBS:
        listing = lambda d: format_human(Result("list", d), prog)  # noqa: E731
        return format_widget_verb(result.verb, data, prog, listing)
    if result.verb == "oses":
        if not data:
            return f"No OS matches. Try fewer words, or: {prog} oses"
        width = max(len(o["short_id"]) for o in data)
        return "\n".join(f"{o['short_id']:<{width}}  {o['name']}" for o in data)
    if result.verb == "list":
        if not data:
            return f"No VMs. Create one with: {prog} create NAME --iso PATH"
        rows = [
            (vm["name"], vm["state"], _os_label(vm.get("os_id")), _size(vm.get("memory")),
             str(vm.get("vcpus") or "-"))
            for vm in data
        ]  # fmt: skip
        if len({vm.get("host", "local") for vm in data}) > 1:  # several hosts: say whose
            hosted = [(*r, vm.get("host", "local")) for r, vm in zip(rows, data, strict=True)]
            return table(hosted, ("NAME", "STATE", "OS", "MEMORY", "CPUS", "HOST"))
        return table(rows, ("NAME", "STATE", "OS", "MEMORY", "CPUS"))
    if result.verb == "console":
        return (
            f"VM {data['name']} is {data['state']}. Its live console is a notebook widget: "
            f"run `%vm console {data['name']}` in a notebook; its screen as PNG is "
            f"GET kernelswitch/api/vms/{data['name']}/screenshot."
        )
    if result.verb == "delete":
        lines = [f"Deleted VM {data['name']}."]
        for path in data.get("removed_disks", []):
            lines.append(f"  removed disk {path}")
        for kept in data.get("kept_disks", []):
            lines.append(f"  kept disk {kept['path']} ({kept['reason']})")
        return "\n".join(lines)
    text = _info_text(data)
    if result.verb == "create":
        text = f"Created VM {data['name']}.\n{text}"
    return text


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    d, h, m = s // 86400, s // 3600 % 24, s // 60 % 60
    return f"{d}d {h}h {m}m" if d else (f"{h}h {m}m" if h else f"{m}m {s % 60}s")


def _info_text(data: dict[str, Any]) -> str:
    """A VM's info (info, create and the run verbs answer with it)."""
    lines = [
        f"{data['name']}: {data['state']}",
        f"  uuid     {data.get('uuid')}",
        f"  os       {data.get('os_id') or 'unknown'}",
        f"  memory   {_size(data.get('memory'))}, {data.get('vcpus')} vCPU(s)",
    ]
    for d in data.get("disks", []):
        lines.append(
            f"  disk     {d.get('target')} {d.get('path')} "
            f"({_size(d.get('capacity'))}, {_size(d.get('allocation'))} used)"
        )
    for m in data.get("media", []):
        tray = f" (tray {m['tray']})" if m.get("tray") else ""
        lines.append(f"  media    {m.get('target')} {m.get('path') or '(empty)'}{tray}")
    if data.get("cpu_time") is not None:
        used = _size(data.get("memory_used"))
        guest = data.get("memory_guest_used")
        mem = f"{used} on the host" + (f", {_size(guest)} in the guest" if guest else "")
        lines.append(f"  uptime   {_duration(data.get('uptime'))}, CPU time {data['cpu_time']:g} s")
        lines.append(f"  in use   {mem}")
    if data.get("autostart") is not None:
        lines.append(f"  autostart {'on' if data['autostart'] else 'off'}")
    lines += share_lines(data.get("shares") or [])
    lines += forward_lines(data.get("forwards") or [])
    if data.get("guest_address"):
        lines.append(f"  address  {data['guest_address']}")
    if data.get("serial_log"):
        host = data.get("serial_host")  # a remote VM's log is on its host: not read here
        where = f" on host {host} (not read from here)" if host else ""
        lines.append(f"  serial   {data['serial_log']}{where}")
        lines += [f"    | {line}" for line in data.get("serial_tail") or []]
    return "\n".join(lines)
