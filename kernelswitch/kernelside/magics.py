"""``%vm`` and ``%pyenv``: thin clients of the kernelswitch REST API."""

from __future__ import annotations

import shlex
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from IPython.core.magic import Magics, line_magic, magics_class

from ..errors import KernelSwitchError
from .format import comparison_text, env_table


class _UsageError(KernelSwitchError):
    code = "usage"


def _parse(parser: Any, line: str) -> Any:
    """Parse a magic's line; argparse's own usage errors and --help end in _Stop."""
    try:
        words = shlex.split(line)
    except ValueError as e:  # an unclosed quote
        raise _UsageError(f"cannot read the line: {e}") from None
    try:
        return parser.parse_args(words)
    except SystemExit:  # argparse already printed the usage or the help
        raise _Stop() from None


class _Stop(Exception):
    """Parsing ended (help shown or usage error printed); nothing else to do."""


def _pyenv_parser() -> Any:
    import argparse

    p = argparse.ArgumentParser(prog="%pyenv", description="Python environments")
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    ls = sub.add_parser("list", help="every environment on the machine")
    ls.add_argument("--refresh", action="store_true", help="rescan instead of using the cache")
    ls.add_argument("--json", action="store_true")
    cur = sub.add_parser("current", help="the environment this kernel runs in")
    cur.add_argument("--json", action="store_true")
    cmp_ = sub.add_parser("compare", help="what changes if this kernel moved to TARGET")
    cmp_.add_argument("target", help="interpreter path or environment folder")
    cmp_.add_argument("--notebook", help="also check this notebook's imports")
    cmp_.add_argument("--json", action="store_true")
    return p


@contextmanager
def _user_errors(prog: str) -> Iterator[None]:
    """A user error becomes one line on stderr instead of a traceback."""
    try:
        yield
    except _Stop:
        pass
    except KernelSwitchError as e:
        if e.message:
            print(f"{prog}: {e.message}", file=sys.stderr)


#: Verbs that can take a while, with what the progress line says meanwhile.
_LONG_VERBS = {
    "create": "Creating VM",
    "start": "Starting",
    "shutdown": "Shutting down",
    "reboot": "Rebooting",
    "delete": "Deleting",
}


@contextmanager
def _progress(label: str | None) -> Iterator[None]:
    """A status line with the elapsed time while a long call runs (notebook only)."""
    if label is None:
        yield
        return
    from IPython.display import display

    start = time.monotonic()
    handle = display({"text/plain": f"{label}…"}, raw=True, display_id=True)
    done = threading.Event()

    def tick() -> None:
        while not done.wait(1.0):
            handle.update({"text/plain": f"{label}… {time.monotonic() - start:.0f} s"}, raw=True)

    ticker = threading.Thread(target=tick, name="ks-progress", daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()
        handle.update({"text/plain": f"{label}: {time.monotonic() - start:.1f} s"}, raw=True)


@magics_class
class KernelSwitchMagics(Magics):
    """``%vm ...`` and ``%pyenv ...``; ``%vm --help`` lists the verbs."""

    @line_magic
    def pyenv(self, line: str) -> Any:
        """Python environments: %pyenv list|current|compare."""
        with _user_errors("%pyenv"):
            return self._pyenv(_parse(_pyenv_parser(), line))
        return None  # the error was printed

    def _pyenv(self, args: Any) -> Any:
        from . import client

        if args.action == "list":
            data = client.request("GET", "envs?refresh=1" if args.refresh else "envs")
            if args.json:
                return data
            print(env_table(data.get("envs", [])))
            if data.get("partial"):
                print("(partial: the scan ran out of time; use --refresh to scan again)")
            return None
        from ..envs import compare, resolve

        current = resolve(sys.prefix)
        if args.action == "current":
            if args.json:
                return current.to_json()
            rec = current.to_json()
            print(f"{rec['name']} ({rec['kind']}, Python {rec['version']}) at {rec['prefix']}")
            return None
        target = resolve(args.target)
        result = compare(current, target, notebook=args.notebook)
        if args.json:
            return result.to_json()
        print(comparison_text(result))
        return None

    @line_magic
    def vm(self, line: str) -> Any:
        """Virtual machines: %vm list|create|start|shutdown|... (see %vm --help)."""
        from . import vm_grammar

        with _user_errors("%vm"):
            return self._vm(_parse(vm_grammar.build_parser("%vm"), line))
        return None  # the error was printed

    def _vm(self, args: Any) -> Any:
        from . import vm_grammar

        label = _LONG_VERBS.get(args.vm_command)
        with _progress(f"{label} {args.name!r}" if label else None):
            result = vm_grammar.run(args, vm_grammar.RESTBackend())
        if getattr(args, "json", False):
            return result.to_json()
        if args.vm_command == "console":
            from .console import Console

            return Console(result.data["name"], scale=args.scale)
        text = vm_grammar.format_human(result, prog="%vm")
        if text:
            print(text)
        return None
