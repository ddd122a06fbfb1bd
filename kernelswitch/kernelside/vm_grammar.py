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
import difflib
import re
from typing import Any, NoReturn, Protocol
from urllib.parse import quote

from .._common import RUN_ACTIONS, human_size
from ..errors import KernelSwitchError
from .format import table
from .vm_manage_grammar import RESTManage, add_manage_verbs, format_manage, run_manage
from .vm_reach_grammar import (
    RESTReach,
    add_reach_verbs,
    format_reach,
    forward_lines,
    run_reach,
    share_lines,
)
from .vm_widget_verbs import WIDGET_VERBS, add_widget_verbs, format_widget_verb, run_widget_verb

__all__ = [
    "GrammarError",
    "RESTBackend",
    "Result",
    "VMBackend",
    "add_verbs",
    "build_parser",
    "for_prog",
    "format_human",
    "run",
]

#: OS summaries (``short_id``, ``name``, ...); a name, since the backends' ``list``
#: method shadows the builtin inside their class bodies.
OSList = list[dict[str, Any]]


class GrammarError(KernelSwitchError):
    """The words typed do not fit the ``vm`` grammar (one line, with the fix)."""

    code = "usage"


def for_prog(message: str, prog: str) -> str:
    """*message* with its command hints spelled as the user types them.

    The engine and the server write hints as ```kernelswitch vm start NAME``` or
    ```vm oses QUERY```; in a notebook the user typed ``%vm``, so the hint must
    say ``%vm start NAME``.
    """
    return re.sub(r"`(?:kernelswitch vm|vm|%vm) ", f"`{prog} ", message)


def _one_line(text: str) -> str:
    return " ".join(text.split())


class _RaisingParser(argparse.ArgumentParser):
    """argparse whose usage errors are one clear line with a fix, raised as GrammarError.

    argparse alone says "invalid choice: 'strat' (choose from ...)" or
    "unrecognized arguments: d" and prints the whole usage; a user wants the
    closest verb and the usage of the verb they typed.
    """

    def error(self, message: str) -> NoReturn:
        raise GrammarError(self._explain(message))

    def _explain(self, message: str) -> str:
        bad = re.search(r"argument (\S+): invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if bad:
            what, word = bad.group(1), bad.group(2)
            choices = re.findall(r"'([^']*)'", bad.group(3))
            close = difflib.get_close_matches(word, choices, n=3, cutoff=0.5)
            if what == "ACTION":  # the verb itself
                hint = f" Did you mean `{self.prog} {close[0]}`?" if close else ""
                return (
                    f"{self.prog}: unknown action {word!r}.{hint} "
                    f"Actions: {', '.join(choices)}; `{self.prog} ACTION --help` explains one."
                )
            hint = f" Did you mean {close[0]!r}?" if close else ""
            return f"{self.prog}: {word!r} is not one of {', '.join(choices)}.{hint}"
        usage = _one_line(self.format_usage()).removeprefix("usage: ")
        return f"{self.prog}: {message}. Usage: {usage}"

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        # Each verb's parser checks its own leftovers, so the message names the
        # verb and shows its usage (argparse would report them at the top).
        ns, extra = super().parse_known_args(args, namespace)
        if extra:
            usage = _one_line(self.format_usage()).removeprefix("usage: ")
            what = "argument" if len(extra) == 1 else "arguments"
            words = " ".join(repr(w) for w in extra)
            dashless = not any(w.startswith("-") for w in extra)
            hint = f" Options start with --; `{self.prog} --help` lists them." if dashless else ""
            self.error_line(f"{self.prog}: unexpected {what} {words}.{hint} Usage: {usage}")
        return ns, extra

    def error_line(self, line: str) -> NoReturn:
        raise GrammarError(line)


class _ExitingParser(_RaisingParser):
    """The CLI's flavour: the same one line on stderr, exit status 2 (argparse's)."""

    def error(self, message: str) -> NoReturn:
        self.error_line(self._explain(message))

    def error_line(self, line: str) -> NoReturn:
        self.exit(2, f"{line}\n")


def parser_class(raise_errors: bool) -> type[argparse.ArgumentParser]:
    """The parser class of the ``vm`` grammar: raising (magics) or exiting (CLI)."""
    return _RaisingParser if raise_errors else _ExitingParser



class VMBackend(Protocol):
    """Where ``vm`` commands go. Answers are the REST API's JSON bodies."""

    def list(self) -> list[dict[str, Any]]: ...

    def info(self, name: str) -> dict[str, Any]: ...

    def create(self, request: dict[str, Any]) -> dict[str, Any]: ...

    def action(self, name: str, action: str, options: dict[str, Any]) -> dict[str, Any]: ...

    def delete(self, name: str, disks: bool, force: bool) -> dict[str, Any]: ...

    def oses(self, query: str | None) -> OSList: ...


class RESTBackend(RESTManage, RESTReach):
    """Talks to the Jupyter server's REST API (the magics, or a remote CLI)."""

    def __init__(self, server: Any = None, host: str | None = None) -> None:
        self.server = server
        self.host = host

    def on_host(self, host: str) -> RESTBackend:
        """The same server, naming VMs on *host* (a libvirt URI or its alias: ``?uri=``)."""
        return RESTBackend(self.server, host)

    def _req(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        from .client import request

        if self.host and path.startswith("vms/"):
            path += ("&" if "?" in path else "?") + f"uri={quote(self.host, safe='')}"
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
        if name not in ("list", "oses", "catalog"):
            p.add_argument(
                "--host", metavar="HOST",
                help="the VM's host: a configured libvirt URI or its alias, e.g. "
                "user@server (needed when several hosts have a VM by that name; "
                "for create: where it goes)",
            )  # fmt: skip
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
    p.add_argument(
        "--share", action="append", dest="shares", metavar="DIR[:TAG]",
        help="share a host folder with the guest (virtiofs; repeatable)",
    )  # fmt: skip

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

    add_manage_verbs(verb)
    add_widget_verbs(verb)
    add_reach_verbs(verb)


def build_parser(prog: str = "vm", *, raise_errors: bool = True) -> argparse.ArgumentParser:
    """The ``vm`` grammar as a standalone parser (used by the ``%vm`` magic).

    With *raise_errors* a usage error raises :class:`GrammarError` (one line);
    otherwise it prints that line and exits with status 2, as argparse does.
    """
    parser = parser_class(raise_errors)(
        prog=prog, description="Create and run virtual machines."
    )
    sub = parser.add_subparsers(dest="vm_command", metavar="ACTION")
    sub.required = True
    add_verbs(sub)
    return parser


# ------------------------------------------------------------------ running


def run(args: argparse.Namespace, backend: VMBackend) -> Result:
    """Execute parsed ``vm`` arguments through *backend*."""
    verb = args.vm_command
    host = getattr(args, "host", None)
    if host and hasattr(backend, "on_host"):
        backend = backend.on_host(host)
    if verb == "list":
        return Result(verb, backend.list())
    if verb == "info":
        return Result(verb, backend.info(args.name))
    if verb == "oses":
        return Result(verb, backend.oses(" ".join(args.query) or None))
    if verb == "create":
        request: dict[str, Any] = {"name": args.name, "iso": args.iso, "start": args.start}
        if host:
            request["uri"] = host
        for key in ("os", "memory", "cpus", "disk", "shares"):
            value = getattr(args, key)
            if value is not None:
                request[key] = value
        return Result(verb, backend.create(request))
    if verb == "delete":
        try:
            return Result(verb, backend.delete(args.name, args.disks, args.force))
        except KernelSwitchError as e:
            if e.code == "vm_not_found" and args.disks:
                # A VM deleted without --disks left them: they are orphans now.
                e.message += " Disks a deleted VM left behind are listed by `vm disks`."
            raise
    if verb == "console":
        info = backend.info(args.name)  # the VM must exist
        return Result(verb, {"name": info["name"], "state": info["state"], "scale": args.scale})
    if verb in WIDGET_VERBS:
        return Result(verb, run_widget_verb(args, backend))
    reached = run_reach(args, backend, GrammarError)
    if reached is not None:
        return Result(verb, reached)
    managed = run_manage(args, backend, GrammarError)
    if managed is not None:
        return Result(verb, managed)
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
        host = data.get("serial_host")
        where = f" on host {host} (not read from here)" if host else ""
        lines.append(f"  serial   {data['serial_log']}{where}")
        lines += [f"    | {line}" for line in data.get("serial_tail") or []]
    return "\n".join(lines)
