"""The ``vm`` grammar's reach verbs: ``share``, ``unshare``, ``forward``, ``serial``.

- ``vm share NAME [DIR] [--tag TAG] [--readonly]`` (no DIR: list the shares)
- ``vm unshare NAME TAG``
- ``vm forward NAME [HOST_PORT:GUEST_PORT] [--udp] [--bind ADDR]`` (no ports:
  list), ``vm forward NAME --remove HOST_PORT [--udp]``
- ``vm serial NAME`` — the serial terminal (a notebook widget; the CLI names it)

Used by :mod:`.vm_grammar`, so ``%vm`` and ``kernelswitch vm`` share them.
Public API: :data:`REACH_VERBS`, :func:`add_reach_verbs`, :func:`run_reach`,
:func:`format_reach`, :class:`RESTReach`. Kernel side: imports nothing from
``vm/`` or ``server/``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

REACH_VERBS = ("share", "unshare", "forward", "serial")


class RESTReach:
    """The reach verbs over the server's REST API (``RESTBackend`` mixes this in)."""

    _req: Callable[..., Any]

    def _vm(self, name: str) -> str:
        return f"vms/{quote(name, safe='')}"

    def shares(self, name: str) -> list[dict[str, Any]]:
        return self._req("GET", f"{self._vm(name)}/shares")["shares"]

    def share(self, name: str, request: dict[str, Any]) -> dict[str, Any]:
        return self._req("POST", f"{self._vm(name)}/shares", request)

    def unshare(self, name: str, tag: str) -> dict[str, Any]:
        return self._req("DELETE", f"{self._vm(name)}/shares/{quote(tag, safe='')}")

    def forwards(self, name: str) -> dict[str, Any]:
        return self._req("GET", f"{self._vm(name)}/forwards")

    def forward(self, name: str, request: dict[str, Any]) -> dict[str, Any]:
        return self._req("POST", f"{self._vm(name)}/forwards", request)

    def unforward(self, name: str, port: int, proto: str) -> dict[str, Any]:
        return self._req("DELETE", f"{self._vm(name)}/forwards/{int(port)}?proto={proto}")


def add_reach_verbs(verb: Callable[[str, str], argparse.ArgumentParser]) -> None:
    p = verb("share", "Share a host folder with a VM (virtiofs); without DIR, list its shares.")
    p.add_argument("name")
    p.add_argument("dir", nargs="?", metavar="DIR", help="the host folder (on the server)")
    p.add_argument("--tag", help="the name the guest mounts it by (default: the folder's name)")
    p.add_argument("--readonly", action="store_true",
                   help="the guest cannot change it (writes fail; a local host and a root server)")

    p = verb("unshare", "Stop sharing a folder with a VM.")
    p.add_argument("name")
    p.add_argument("tag", metavar="TAG")

    p = verb("forward", "Forward a host port to a VM's port; without ports, list the forwards.")
    p.add_argument("name")
    p.add_argument("ports", nargs="?", metavar="HOST_PORT:GUEST_PORT", help="e.g. 8080:80")
    p.add_argument("--udp", action="store_true", help="UDP instead of TCP")
    p.add_argument("--bind", default="127.0.0.1", metavar="ADDR",
                   help="host address to listen on (default 127.0.0.1: this host only)")
    p.add_argument("--remove", type=int, metavar="HOST_PORT", help="remove this forward")

    p = verb("serial", "Show a VM's serial terminal (a notebook widget).")
    p.add_argument("name")


def _ports(text: str, usage_error: type[Exception]) -> tuple[int, int]:
    host, sep, guest = text.partition(":")
    if not sep or not host.isdigit() or not guest.isdigit():
        raise usage_error(f"ports must be HOST_PORT:GUEST_PORT, like 8080:80, not {text!r}.")
    return int(host), int(guest)


def run_reach(args: argparse.Namespace, backend: Any, usage_error: type[Exception]) -> Any:
    """The answer of a reach verb (``None`` when *args* is another verb)."""
    verb = args.vm_command
    if verb == "share":
        if not args.dir:
            return {"name": args.name, "shares": backend.shares(args.name)}
        request: dict[str, Any] = {"dir": args.dir, "readonly": args.readonly}
        if args.tag:
            request["tag"] = args.tag
        return backend.share(args.name, request)
    if verb == "unshare":
        return backend.unshare(args.name, args.tag)
    if verb == "forward":
        proto = "udp" if args.udp else "tcp"
        if args.remove is not None:
            return backend.unforward(args.name, args.remove, proto)
        if not args.ports:
            return backend.forwards(args.name)
        host, guest = _ports(args.ports, usage_error)
        return backend.forward(args.name, {"host_port": host, "guest_port": guest,
                                           "proto": proto, "host_addr": args.bind})  # fmt: skip
    if verb == "serial":
        info = backend.info(args.name)
        return {"name": info["name"], "state": info["state"], "serial_log": info.get("serial_log")}
    return None


def share_lines(shares: list[dict[str, Any]]) -> list[str]:
    return [f"  share    {s['tag']} <- {s['dir']}{' (read-only)' if s.get('readonly') else ''}"
            for s in shares]  # fmt: skip


def forward_lines(forwards: list[dict[str, Any]]) -> list[str]:
    out = []
    for f in forwards:
        state = "" if f.get("active", True) else " (not active)"
        out.append(f"  forward  {f['host_addr']}:{f['host_port']} -> guest {f['guest_port']}/"
                   f"{f['proto']}{state}")  # fmt: skip
    return out


def format_reach(verb: str, data: Any, prog: str) -> str | None:
    """What a person reads after a reach verb (None for other verbs)."""
    if verb not in REACH_VERBS:
        return None
    name = data.get("name", "")
    if verb == "serial":
        return (f"VM {name} is {data['state']}. Its serial terminal is a notebook widget: run "
                f"`%vm serial {name}` in a notebook; the log is {data.get('serial_log')}.")
    if verb in ("share", "unshare"):
        lines = []
        if "share" in data:
            s = data["share"]
            lines.append(f"Shared {s['dir']} with {name} as {s['tag']!r} (applies "
                         f"{data['applies']}). In the guest: {s['mount']}")  # fmt: skip
        elif "removed" in data:
            lines.append(f"Stopped sharing {data['removed']!r} with {name} "
                         f"(applies {data['applies']}).")  # fmt: skip
        shares = data.get("shares") or []
        lines += share_lines(shares) or [f"{name} shares no folder. Add one: "
                                         f"{prog} share {name} DIR"]  # fmt: skip
        return "\n".join(lines)
    lines = []
    if "applies" in data:
        lines.append(f"Forwards of {name} changed (applies {data['applies']}).")
    lines += forward_lines(data.get("forwards") or []) or [
        f"{name} forwards no port. Add one: {prog} forward {name} 8080:80"]
    if data.get("note"):
        lines.append(f"  note: {data['note']}")
    return "\n".join(lines)
