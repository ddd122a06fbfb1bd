"""``kernelswitch create PATH``: a new environment with ipykernel, made here
(no server needed); the same engine as ``POST envs`` and ``%pyenv create``.

There is no server's list to keep it in, so any folder will do (the server
refuses one outside its scanned roots). ``--current`` names the env whose
distributions ``--packages current`` copies and whose Python is the default
(this command's own interpreter otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from ..kernelside._pyenv_create import add_env_options  # one grammar with %pyenv create


def cmd_create(args: argparse.Namespace) -> int:
    from ..envs import discover, resolve
    from ..envs._create import plan_create, run_create
    from ..envs._interpreters import base_interpreters
    from ..envs._listing import always_listed
    from ..envs._targets import resolve_target

    current = resolve_target(args.current) if args.current else resolve(sys.executable)
    found = base_interpreters([*discover().envs, *always_listed()])
    plan = plan_create(args.path, args.python, args.tool, args.packages, current, found)
    if args.dry_run:
        if args.json:
            print(json.dumps(plan.to_json(), indent=2))
        else:
            print(f"would run: {plan.command_text}")
        return 0

    async def emit(text: str) -> None:
        if not args.json:
            sys.stdout.write(text)
            sys.stdout.flush()

    code = asyncio.run(run_create(plan, emit))
    if code != 0:
        print(f"kernelswitch: error: `{plan.command_text}` failed with exit code {code}; "
              f"{plan.path} is left as it is", file=sys.stderr)
        return 1
    env = resolve(plan.executable).to_json()
    if args.json:
        print(json.dumps({"env": env, "plan": plan.to_json()}, indent=2))
    else:
        print(f"made {env['prefix']} (Python {env['version']}, {env['mode']})")
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "create", help="make a new environment with ipykernel",
        description="Make a venv at PATH from a Python on this machine (pyenv builds, the "
        "system Python, other envs' bases), with ipykernel so a kernel can switch to it.")
    p.add_argument("path", metavar="PATH", help="a new or empty folder")
    add_env_options(p, "CURRENT's")
    p.add_argument("--current", metavar="ENV",
                   help="the env to copy from (default: this command's interpreter)")
    p.add_argument("--dry-run", action="store_true", help="show the commands, make nothing")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_create)
