"""One grammar for ``kernelswitch vm ...`` and ``%vm ...``.

- :func:`add_verbs` ``(subparsers)`` / :func:`build_parser` ``(prog)`` — the
  ``vm`` grammar (``vm create NAME --iso PATH [--os ID] [--memory SIZE]
  [--cpus N] [--disk SIZE] [--no-start]``, ``vm ACTION NAME [options]``,
  ``--json``).
- :func:`run` ``(args, backend) -> Result`` — do it through a :class:`VMBackend`:
  :class:`RESTBackend` (:mod:`.vm_backend`, the server's REST API, the magics)
  or the CLI's ``LocalBackend`` (libvirt directly, in :mod:`kernelswitch.cli.vm`).
- :func:`format_human` ``(result) -> str`` (:mod:`.vm_output`);
  ``result.to_json()`` for ``--json``.

The parser's flavour (one-line errors) is in :mod:`.vm_parser`; the verbs of
managing and reaching a VM and the widget verbs in their own modules. This
module names them all, so callers import one place.

Kernel side: nothing here imports ``vm/``, ``server/`` or libvirt.
"""

from __future__ import annotations

import argparse
from typing import Any

from .._common import RUN_ACTIONS
from ..errors import KernelSwitchError
from .vm_backend import OSList, RESTBackend, VMBackend
from .vm_manage_grammar import add_manage_verbs, run_manage
from .vm_output import Result, format_human
from .vm_parser import GrammarError, for_prog, parser_class
from .vm_reach_grammar import add_reach_verbs, run_reach
from .vm_widget_verbs import WIDGET_VERBS, add_widget_verbs, run_widget_verb

__all__ = [
    "GrammarError",
    "OSList",
    "RESTBackend",
    "Result",
    "VMBackend",
    "add_verbs",
    "build_parser",
    "for_prog",
    "format_human",
    "parser_class",
    "run",
]


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
    parser = parser_class(raise_errors)(prog=prog, description="Create and run virtual machines.")
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
