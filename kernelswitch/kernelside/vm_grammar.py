"""One grammar for ``kernelswitch vm ...`` and ``%vm ...``.

- :func:`add_verbs` ``(subparsers)`` / :func:`build_parser` ``(prog)`` — the
  ``vm`` grammar (``vm create NAME --iso PATH [--os ID] [--memory SIZE]
  [--cpus N] [--disk SIZE] [--no-start]``, ``vm ACTION NAME [options]``,
  ``--json``).
- :func:`run` ``(args, backend) -> Result`` — do it through a :class:`VMBackend`:
  :class:`RESTBackend` here (the server's REST API, the magics) or the CLI's
  ``LocalBackend`` (libvirt directly, in :mod:`kernelswitch.cli.vm`).
- :func:`format_human` ``(result) -> str``; ``result.to_json()`` for ``--json``.

Kernel side: nothing here imports ``vm/``, ``server/`` or libvirt.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Protocol
from urllib.parse import quote

from .._common import RUN_ACTIONS, human_size
from .format import table

__all__ = [
    "RESTBackend",
    "Result",
    "VMBackend",
    "add_verbs",
    "build_parser",
    "format_human",
    "run",
]

#: OS summaries (``short_id``, ``name``, ...); a name, since the backends' ``list``
#: method shadows the builtin inside their class bodies.
OSList = list[dict[str, Any]]



class VMBackend(Protocol):
    """Where ``vm`` commands go. Answers are the REST API's JSON bodies."""

    def list(self) -> list[dict[str, Any]]: ...

    def info(self, name: str) -> dict[str, Any]: ...

    def create(self, request: dict[str, Any]) -> dict[str, Any]: ...

    def action(self, name: str, action: str, options: dict[str, Any]) -> dict[str, Any]: ...

    def delete(self, name: str, disks: bool, force: bool) -> dict[str, Any]: ...

    def oses(self, query: str | None) -> OSList: ...


class RESTBackend:
    """Talks to the Jupyter server's REST API (the magics, or a remote CLI)."""

    def __init__(self, server: Any = None) -> None:
        self.server = server

    def _req(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        from .client import request

        return request(method, path, body, server=self.server)

    def list(self) -> list[dict[str, Any]]:
        return self._req("GET", "vms")["vms"]

    def info(self, name: str) -> dict[str, Any]:
        return self._req("GET", f"vms/{quote(name, safe='')}")

    def create(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._req("POST", "vms", request)

    def action(self, name: str, action: str, options: dict[str, Any]) -> dict[str, Any]:
        return self._req("POST", f"vms/{quote(name, safe='')}/{action}", options)

    def delete(self, name: str, disks: bool, force: bool) -> dict[str, Any]:
        q = f"?disks={int(disks)}&force={int(force)}"
        return self._req("DELETE", f"vms/{quote(name, safe='')}{q}")

    def oses(self, query: str | None) -> OSList:
        q = f"?q={quote(query)}" if query else ""
        return self._req("GET", f"osinfo/oses{q}")["oses"]


@dataclasses.dataclass
class Result:
    verb: str
    data: Any

    def to_json(self) -> Any:
        return self.data


# ------------------------------------------------------------------ grammar


def add_verbs(sub: Any) -> None:
    def verb(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("--json", action="store_true", help="machine-readable output")
        return p

    verb("list", "List the VMs and their state.")

    p = verb("info", "Show a VM: state, OS, memory, CPUs, disks, media.")
    p.add_argument("name")

    p = verb("create", "Create a VM from an installer ISO (and start it).")
    p.add_argument("name")
    p.add_argument("--iso", required=True, metavar="PATH", help="installer ISO on the server")
    p.add_argument(
        "--os", metavar="SHORT_ID", help="OS short id when the ISO is not identified (fedora37)"
    )
    p.add_argument("--memory", metavar="SIZE", help="e.g. 2G (default: recommended for the OS)")
    p.add_argument("--cpus", type=int, metavar="N", help="virtual CPUs")
    p.add_argument("--disk", metavar="SIZE", help="disk size, e.g. 20G")
    p.add_argument("--no-start", dest="start", action="store_false", help="define only")

    helps = {
        "start": "Start a VM.",
        "shutdown": "Shut a VM down via ACPI (the guest's power button).",
        "destroy": "Force a VM off now (like pulling the plug).",
        "reboot": "Reboot a VM via ACPI.",
        "suspend": "Pause a VM's CPUs.",
        "resume": "Resume a paused VM.",
    }
    for action in RUN_ACTIONS:
        p = verb(action, helps[action])
        p.add_argument("name")
        if action == "shutdown":
            p.add_argument(
                "--timeout", type=float, default=60.0, metavar="SECONDS",
                help="how long to wait for the guest to power off (default 60)",
            )  # fmt: skip
            p.add_argument(
                "--no-wait", dest="wait", action="store_false", help="press the button only"
            )

    p = verb("console", "Show a VM's live screen (a notebook widget; keyboard, mouse, sound).")
    p.add_argument("name")
    p.add_argument(
        "--scale", choices=("fit", "1:1", "integer"), default="fit",
        help="fit the cell (default), 1:1 pixels, or crisp integer zoom",
    )  # fmt: skip

    p = verb("oses", "List the OSes libosinfo knows, for --os (all words of QUERY must match).")
    p.add_argument("query", nargs="*", metavar="QUERY")

    p = verb("delete", "Delete a VM (its disks only with --disks).")
    p.add_argument("name")
    p.add_argument("--disks", action="store_true", help="also remove its disk images")
    p.add_argument("--force", action="store_true", help="stop it first if it is running")


def build_parser(prog: str = "vm") -> argparse.ArgumentParser:
    """The ``vm`` grammar as a standalone parser (used by the ``%vm`` magic)."""
    parser = argparse.ArgumentParser(prog=prog, description="Create and run virtual machines.")
    sub = parser.add_subparsers(dest="vm_command", metavar="ACTION")
    sub.required = True
    add_verbs(sub)
    return parser


# ------------------------------------------------------------------ running


def run(args: argparse.Namespace, backend: VMBackend) -> Result:
    """Execute parsed ``vm`` arguments through *backend*."""
    verb = args.vm_command
    if verb == "list":
        return Result(verb, backend.list())
    if verb == "info":
        return Result(verb, backend.info(args.name))
    if verb == "oses":
        return Result(verb, backend.oses(" ".join(args.query) or None))
    if verb == "create":
        request: dict[str, Any] = {"name": args.name, "iso": args.iso, "start": args.start}
        for key in ("os", "memory", "cpus", "disk"):
            value = getattr(args, key)
            if value is not None:
                request[key] = value
        return Result(verb, backend.create(request))
    if verb == "delete":
        return Result(verb, backend.delete(args.name, args.disks, args.force))
    if verb == "console":
        info = backend.info(args.name)  # the VM must exist
        return Result(verb, {"name": info["name"], "state": info["state"], "scale": args.scale})
    if verb in RUN_ACTIONS:
        options: dict[str, Any] = {}
        if verb == "shutdown":
            options = {"timeout": args.timeout, "wait": args.wait}
        return Result(verb, backend.action(args.name, verb, options))
    raise ValueError(f"unknown vm command {verb!r}")


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
    # info, create and the run verbs answer with the VM's info
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
        lines.append(f"  media    {m.get('target')} {m.get('path') or '(empty)'}")
    if result.verb == "create":
        lines.insert(0, f"Created VM {data['name']}.")
    return "\n".join(lines)
