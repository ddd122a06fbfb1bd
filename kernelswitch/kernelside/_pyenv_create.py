"""``%pyenv create PATH``: a new environment made by the server (``POST envs``),
its output streamed into the cell; ``--switch`` moves this kernel there after."""

from __future__ import annotations

import argparse
import os
from typing import Any


def add_env_options(p: Any, whose: str) -> None:
    """``--python``, ``--tool``, ``--packages``: the options ``%pyenv create`` and the
    CLI's ``kernelswitch create`` share (*whose* env they copy: "this env's", "CURRENT's")."""
    p.add_argument("--python", metavar="VERSION_OR_PATH",
                   help="a Python version on this machine (3.12) or an interpreter's path "
                   f"(default: {whose} major.minor)")  # fmt: skip
    p.add_argument("--tool", choices=["venv", "uv"], help="default: uv when installed")
    p.add_argument("--packages", default="none", metavar="none|current|REQUIREMENTS_FILE",
                   help=f"also install {whose} distributions at their versions (current) "
                   "or a requirements file (default: only ipykernel)")  # fmt: skip


def add_parser(sub: Any) -> None:
    cr = sub.add_parser("create", help="make a new environment at PATH with ipykernel, "
                        "so it can be switched to at once")
    cr.add_argument("path", help="the new env's folder (new or empty)")
    add_env_options(cr, "this env's")
    cr.add_argument("--switch", action="store_true", help="move this kernel to it afterwards")
    cr.add_argument("--add-root", action="store_true",
                    help="have the server scan PATH's parent folder too (when it is outside "
                    "the scanned folders)")
    cr.add_argument("--json", action="store_true")


def run(kid: str | None, args: Any) -> Any:
    from . import client

    body: dict[str, Any] = {"path": os.path.abspath(os.path.expanduser(args.path)),
                            "packages": args.packages}
    if args.packages not in ("none", "current"):
        body["packages"] = os.path.abspath(os.path.expanduser(args.packages))
    for key in ("python", "tool"):
        if getattr(args, key):
            body[key] = getattr(args, key)
    if args.add_root:
        body["add_root"] = True
    if kid is not None:
        body["kernel"] = kid  # "current" and the default version are this kernel's env
    result: dict[str, Any] = {}
    for line in client.stream("POST", "envs", body):
        kind = line.get("type")
        if kind == "step" and not args.json:
            print(f"[{line['index'] + 1}/{line['count']}] ", end="", flush=True)
        elif kind == "output" and not args.json:
            print(line["text"], end="", flush=True)
        elif kind == "result":
            result = line
    if result.get("returncode") != 0:
        from .client import APIError

        err = result.get("error") or {}
        raise APIError(err.get("message") or "creating the environment failed",
                       code=err.get("code", "create_failed"), status=502)
    env = result.get("env") or {}
    if not args.json:
        print(f"made {env.get('prefix')} (Python {env.get('version')}, {env.get('mode')})")
    if args.switch:
        if kid is None:
            from .client import APIError

            raise APIError(f"made {env.get('prefix')}, but this kernel was not started by a "
                           "kernelswitch server, so it cannot switch; open the notebook from "
                           "`jupyter lab` with kernelswitch installed", code="not_switchable",
                           status=422)
        from ._pyenv import _switch

        sw = argparse.Namespace(target=env.get("prefix") or body["path"], carry=False,
                                timeout=None, json=args.json)
        answer = _switch(kid, sw)
        if args.json:
            return {"create": result, "switch": answer}
        return None
    return result if args.json else None
