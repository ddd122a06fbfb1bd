"""The ``kernelswitch`` command: envs, resolve, compare, create, vm ..., doctor.

Every command takes ``--json`` and exits non-zero with a one-line reason on error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import KernelSwitchError


def build_parser() -> argparse.ArgumentParser:
    from .create import register as register_create
    from .doctor import register as register_doctor
    from .envs import register as register_envs
    from .vm import register as register_vm

    parser = argparse.ArgumentParser(
        prog="kernelswitch",
        description="Virtual machines and Python environments for Jupyter.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    register_envs(sub)
    register_create(sub)
    register_vm(sub)
    register_doctor(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KernelSwitchError as e:
        print(f"kernelswitch: {e.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kernelswitch: interrupted", file=sys.stderr)
        return 130


