"""``kernelswitch envs | resolve | compare | align``: the environment engine on the command line.

``kernelswitch.cli`` calls :func:`register` with its subparsers; each command sets
``func(args) -> exit code``. Human tables by default, the JSON records with
``--json``; bad input gives one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import KernelSwitchError
from ..kernelside.format import comparison_text, env_table

EXIT_OK = 0
EXIT_ERROR = 1  # the engine refused the input (not found, not a Python ...)
EXIT_USAGE = 2  # the command line itself is wrong


class _UsageError(Exception):
    pass


def _fail(message: str, code: int) -> int:
    print("kernelswitch: error: " + " ".join(message.split()), file=sys.stderr)
    return code


def _guard(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except _UsageError as e:
            return _fail(str(e), EXIT_USAGE)
        except KernelSwitchError as e:
            return _fail(e.message, EXIT_ERROR)

    run.__name__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run


def _number(text: str, what: str, cast: Callable[[str], Any]) -> Any:
    try:
        value = cast(text)
    except ValueError:
        raise _UsageError(f"{what} must be a number, not {text!r}") from None
    if value < 0:
        raise _UsageError(f"{what} must not be negative, got {text}")
    return value


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


def cmd_envs(args: argparse.Namespace) -> int:
    """List the Python environments on this machine."""
    from ..envs import discover

    depth = _number(args.depth, "--depth", int)
    budget = _number(args.budget, "--budget", float)
    roots = args.root
    if roots:
        for r in roots:
            if not os.path.isdir(os.path.expanduser(r)):
                raise _UsageError(f"--root {r}: no such directory")
    result = discover(roots=roots, depth=depth, budget=budget, refresh=args.refresh)
    if args.json:
        _print_json(result.to_json(packages=args.packages))
    else:
        print(env_table([e.to_json() for e in result.envs]))
        for err in result.errors:
            print(f"! {err.message}", file=sys.stderr)
    if result.partial:
        print(
            f"kernelswitch: warning: scan stopped after {budget:g} s, results are partial "
            "(raise --budget or lower --depth)",
            file=sys.stderr,
        )
    return EXIT_OK


def _record_lines(rec: Any) -> list[str]:
    return [f"{k}: {'' if v is None else v}" for k, v in rec.to_json().items()]


def cmd_resolve(args: argparse.Namespace) -> int:
    """Resolve an interpreter, env folder or 'system' into an env record."""
    from ..envs._targets import resolve_target

    rec = resolve_target(args.target)  # a path, `system`, or a name from `kernelswitch envs`
    if args.json:
        _print_json(rec.to_json(packages=args.packages))
    else:
        print("\n".join(_record_lines(rec)))
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    """Compare the current env with a target (and a notebook's imports)."""
    from ..envs import compare
    from ..envs._targets import resolve_target

    # paths, `system`, or names from `kernelswitch envs`, as everywhere a target is taken
    comp = compare(resolve_target(args.current), resolve_target(args.target),
                   notebook=args.notebook)
    if args.json:
        _print_json(comp.to_json())
    else:
        print(comparison_text(comp))
    return EXIT_OK


def cmd_align(args: argparse.Namespace) -> int:
    """Install into TARGET what the notebook imports and TARGET lacks (CURRENT's versions)."""
    import asyncio

    from ..envs import notebook_imports
    from ..envs._align import plan_align, run_align
    from ..envs._targets import resolve_target

    current, target = resolve_target(args.current), resolve_target(args.target)
    nb = os.path.abspath(os.path.expanduser(args.notebook))
    plan = plan_align(current, target, notebook_imports(nb), os.path.dirname(nb))
    if not args.yes:
        if args.json:
            _print_json(plan.to_json())
            return EXIT_OK
        for i in plan.installs:
            print(f"lacks: {i['distribution']} {i['version'] or ''} (import {i['import']})")
        if plan.unmapped:
            print(f"no distribution in {args.current} provides: {', '.join(plan.unmapped)}")
        if plan.hint:
            print(plan.hint)
        print(f"would run: {plan.command_text}\n(add --yes to run it)" if plan.steps
              else "nothing to install")
        return EXIT_OK
    if plan.installs and not plan.steps:
        raise _UsageError(plan.hint or "the target has no pip")

    async def emit(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    code = asyncio.run(run_align(plan, emit))
    if code != 0:
        return _fail(f"{plan.command_text} failed with exit code {code}", EXIT_ERROR)
    return EXIT_OK


def _output_flags(p: argparse.ArgumentParser, packages: bool = True) -> None:
    if packages:
        p.add_argument("--packages", action="store_true", help="with --json: include packages")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def register(subparsers: Any) -> None:
    """Add ``envs``, ``resolve`` and ``compare`` to the ``kernelswitch`` command."""
    from ..envs import DEFAULT_BUDGET, DEFAULT_DEPTH

    p = subparsers.add_parser(
        "envs",
        help="list Python environments (reads files, runs nothing)",
        description="List every Python environment under the roots and in the tools' places.",
    )
    p.add_argument("--root", action="append", metavar="DIR",
                   help="directory to scan (repeatable; default: home and cwd)")
    p.add_argument("--depth", default=str(DEFAULT_DEPTH), metavar="N",
                   help=f"levels below each root to look (default {DEFAULT_DEPTH})")
    p.add_argument("--budget", default=str(DEFAULT_BUDGET), metavar="SECONDS",
                   help=f"seconds before partial results return (default {DEFAULT_BUDGET:g})")
    p.add_argument("--refresh", action="store_true", help="ignore caches and rescan")
    _output_flags(p)
    p.set_defaults(func=_guard(cmd_envs))

    p = subparsers.add_parser(
        "resolve",
        help="resolve an interpreter, env folder or 'system'",
        description="Resolve TARGET (interpreter path, env folder, or 'system') to an env record.",
    )
    p.add_argument("target", metavar="TARGET")
    _output_flags(p)
    p.set_defaults(func=_guard(cmd_resolve))

    p = subparsers.add_parser(
        "compare",
        help="compare two environments (and a notebook's imports)",
        description="What changes when a kernel moves from CURRENT to TARGET.",
    )
    p.add_argument("current", metavar="CURRENT")
    p.add_argument("target", metavar="TARGET")
    p.add_argument("--notebook", metavar="NB", help="report the notebook's unmet imports")
    _output_flags(p, packages=False)
    p.set_defaults(func=_guard(cmd_compare))
    _register_align(subparsers)


def _register_align(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "align",
        help="install into TARGET the notebook's imports it lacks (CURRENT's versions)",
        description="Install into TARGET the distributions that provide the notebook's imports "
        "TARGET lacks, at the versions CURRENT has (pip of TARGET, or uv pip when uv is on PATH). "
        "Shows the command; --yes runs it.",
    )
    p.add_argument("current", metavar="CURRENT")
    p.add_argument("target", metavar="TARGET")
    p.add_argument("--notebook", metavar="NB", required=True, help="the notebook's imports")
    p.add_argument("--yes", action="store_true", help="run the command shown")
    _output_flags(p, packages=False)
    p.set_defaults(func=_guard(cmd_align))


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry (tests, and before cli.py wires :func:`register`)."""
    parser = argparse.ArgumentParser(prog="kernelswitch")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
