"""libvirt events as the events websocket's messages, and as one line of text.

Public API: :func:`lifecycle_message`, :func:`tray_message`,
:func:`host_message`, :func:`format_line` (``kernelswitch vm watch``).
The message shapes are the contract in the events websocket's docs
(:mod:`kernelswitch.server.events_handlers`).
"""

from __future__ import annotations

import time
from typing import Any

from ..vm.events import VMEvent
from ..vm.hosts.uri import HostURI

#: A lifecycle event -> the state ``GET vms`` reports after it.
EVENT_STATE = {
    "started": "running",
    "resumed": "running",
    "suspended": "paused",
    "stopped": "shutoff",
    "shutdown": "shutting-down",
    "pmsuspended": "pmsuspended",
    "crashed": "crashed",
}
#: libvirt's detail numbers per lifecycle event, as words (virDomainEvent*DetailType).
DETAILS = {
    "started": ["booted", "migrated", "restored", "from snapshot", "woken up"],
    "suspended": ["paused", "migrated", "I/O error", "watchdog", "restored", "from snapshot",
                  "API error", "postcopy", "postcopy failed"],
    "resumed": ["unpaused", "migrated", "from snapshot", "postcopy", "postcopy failed"],
    "stopped": ["shut down", "forced off", "crashed", "migrated", "saved", "failed",
                "from snapshot"],
    "shutdown": ["finished", "by the guest", "by the host"],
    "pmsuspended": ["to memory", "to disk"],
    "crashed": ["panicked", "crashloaded"],
    "defined": ["added", "updated", "renamed", "from snapshot"],
    "undefined": ["removed", "renamed"],
}  # fmt: skip


def reason(event: VMEvent) -> str:
    words = DETAILS.get(event.event, [])
    d = event.detail
    if isinstance(d, int) and 0 <= d < len(words):
        return words[d]
    return "" if d is None else str(d)


def lifecycle_message(event: VMEvent) -> dict[str, Any] | None:
    """``{"type": "vm", ...}`` for a state change; None for defined/undefined."""
    if event.kind == "reboot":
        return {"type": "vm", "name": event.vm, "uri": event.uri, "state": "running",
                "reason": "rebooted"}  # fmt: skip
    state = EVENT_STATE.get(event.event)
    if state is None:
        return None
    return {"type": "vm", "name": event.vm, "uri": event.uri, "state": state,
            "reason": reason(event)}  # fmt: skip


def tray_message(event: VMEvent, device: str | None) -> dict[str, Any]:
    """``device`` is the drive's target (``sda``), as in the VM's record."""
    return {"type": "media", "name": event.vm, "uri": event.uri, "device": device,
            "tray": "open" if event.event == "opened" else "closed"}  # fmt: skip


def host_message(uri: str, up: bool, why: str = "") -> dict[str, Any]:
    """A host's state, with the short name every UI shows (``local``, ``user@host``)."""
    msg: dict[str, Any] = {"type": "host", "uri": uri, "alias": HostURI.parse(uri).alias,
                           "state": "up" if up else "down"}  # fmt: skip
    if why:
        msg["reason"] = why
    return msg


def format_line(msg: dict[str, Any], now: float | None = None) -> str:
    """One line per message, for a shell: ``12:03:04 vm-a  running (booted)``."""
    stamp = time.strftime("%H:%M:%S", time.localtime(now))
    kind = msg.get("type")
    name = msg.get("name", "")
    where = f"  [{msg['uri']}]" if msg.get("uri") and kind != "host" else ""
    if kind == "snapshot":
        vms = msg.get("vms", [])
        lines = [f"{stamp} watching {len(vms)} VM(s); env list version "
                 f"{msg.get('envs_version', 0)}"]  # fmt: skip
        lines += [f"{stamp} {v['name']}  {v['state']}  [{v.get('uri', '')}]" for v in vms]
        lines += [f"{stamp} host {h['uri']} {h['state']}" + (f" ({h['reason']})"
                  if h.get("reason") else "") for h in msg.get("hosts", [])]  # fmt: skip
        return "\n".join(lines)
    if kind == "vm":
        why = f" ({msg['reason']})" if msg.get("reason") else ""
        return f"{stamp} {name}  {msg.get('state')}{why}{where}"
    if kind == "vm_defined":
        return f"{stamp} {name}  defined ({msg.get('vm', {}).get('state', '?')}){where}"
    if kind == "vm_undefined":
        return f"{stamp} {name}  undefined{where}"
    if kind == "media":
        return f"{stamp} {name}  tray of {msg.get('device')} {msg.get('tray')}{where}"
    if kind == "thumbnail":
        return f"{stamp} {name}  new thumbnail (version {msg.get('version')}){where}"
    if kind == "envs":
        return f"{stamp} environments changed (version {msg.get('version')})"
    if kind == "host":
        why = f" ({msg['reason']})" if msg.get("reason") else ""
        return f"{stamp} host {msg.get('uri')} {msg.get('state')}{why}"
    return f"{stamp} {msg}"
