"""The ``vm`` verbs that show a notebook widget: ``manager`` and ``new``.

Like ``console``, they belong to the one ``vm`` grammar so the magic and the
CLI cannot drift, but only a notebook can show a widget: ``%vm manager`` and
``%vm new`` return :class:`~.vm_widgets.VMManager` / :class:`~.vm_widgets.CreateVM`
(see :mod:`.magics`); ``kernelswitch vm manager`` prints the list and names
the magic, ``kernelswitch vm new`` names ``vm create``.

Public API: :func:`add_widget_verbs`, :func:`run_widget_verb`,
:func:`format_widget_verb`. Kernel side: imports nothing from ``vm/`` or ``server/``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

WIDGET_VERBS = ("manager", "new")


def add_widget_verbs(verb: Callable[[str, str], argparse.ArgumentParser]) -> None:
    verb(
        "manager",
        "Show the VM manager (a notebook widget): every VM live, with its actions.",
    )
    p = verb("new", "Show the create-VM form (a notebook widget); `vm create` does it in one line.")
    p.add_argument(
        "name", nargs="?", default="", help="the new VM's name (can be typed in the form)"
    )
    p.add_argument("--iso", default="", metavar="PATH", help="installer ISO on the server")


def run_widget_verb(args: argparse.Namespace, backend: Any) -> Any:
    """The data behind a widget verb (``None`` when *args* is another verb)."""
    if args.vm_command == "manager":
        return backend.list()  # also proves the server (or libvirt) answers
    if args.vm_command == "new":
        return {"name": args.name, "iso": args.iso}
    return None


def format_widget_verb(verb: str, data: Any, prog: str, list_text: Callable[[Any], str]) -> str:
    """What the CLI prints for a widget verb (the magics show the widget instead)."""
    if verb == "manager":
        return (
            f"{list_text(data)}\n"
            "The live VM manager is a notebook widget: run `%vm manager` in a notebook "
            f"(here: `{prog} list`, `{prog} start NAME`, ...)."
        )
    name = data.get("name") or "NAME"
    iso = data.get("iso") or "PATH"
    return (
        "The create-VM form is a notebook widget: run `%vm new` in a notebook. "
        f"Here: `{prog} create {name} --iso {iso}` (the OS and sizes are chosen for you)."
    )
