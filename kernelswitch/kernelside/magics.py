"""``%vm`` and ``%pyenv``: thin clients of the kernelswitch REST API."""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from IPython.core.magic import Magics, line_magic, magics_class

from ..errors import KernelSwitchError


class _UsageError(KernelSwitchError):
    code = "usage"


def _parse(parser: Any, line: str) -> Any:
    """Parse a magic's line; --help ends in _Stop, a usage error raises."""
    try:
        words = shlex.split(line)
    except ValueError as e:  # an unclosed quote
        raise _UsageError(f"cannot read the line: {e}") from None
    try:
        return parser.parse_args(words)
    except SystemExit as e:  # argparse printed the help, or the usage and its error
        if not e.code:
            raise _Stop() from None
        raise _UsageError("invalid arguments (see the usage above)") from None


class _Stop(Exception):
    """Parsing ended (help shown or usage error printed); nothing else to do."""


def _pyenv_parser() -> Any:
    from ._pyenv import parser

    return parser()


@contextmanager
def _user_errors(prog: str) -> Iterator[None]:
    """A user error raises IPython's UsageError: one line, no traceback, the cell fails.

    Failing the cell matters: "Run All" must stop where a notebook broke, and
    ``r = %vm info nosuch --json`` must not quietly bind ``None``. Hints in the
    message name the command as the user typed it (``%vm start X``).
    """
    from IPython.core.error import UsageError

    try:
        yield
    except _Stop:
        pass
    except KernelSwitchError as e:
        from .vm_grammar import for_prog

        message = e.message or e.code
        if prog == "%vm":
            message = for_prog(message, prog)
        if not message.startswith(prog):
            message = f"{prog}: {message}"
        raise UsageError(" ".join(message.split())) from None


#: Verbs that can take a while, with what the progress line says meanwhile.
_LONG_VERBS = {
    "create": "Creating VM",
    "start": "Starting",
    "shutdown": "Shutting down",
    "reboot": "Rebooting",
    "delete": "Deleting",
    "clone": "Cloning",
    "snapshot": "Snapshot",
    "edit": "Changing",
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


@contextmanager
def _download_bar(label: str) -> Iterator[Any]:
    """A text progress bar in the cell's output, fed ``(done, total)`` bytes."""
    from IPython.display import display

    from .vm_manage_grammar import bar_text

    handle = display({"text/plain": f"{label}…"}, raw=True, display_id=True)

    def update(done: int, total: int | None) -> None:
        handle.update({"text/plain": f"{label} {bar_text(done, total)}"}, raw=True)

    yield update


def _upload_bar() -> Any:
    """``(label, done, total)`` -> a text progress bar in the cell's output, shown
    from the first call on (a create that uploads nothing shows none)."""
    from IPython.display import display

    from .vm_manage_grammar import bar_text

    handle: Any = None
    last: list[int] = []

    def update(label: str, done: int, total: int) -> None:
        nonlocal handle
        pct = 100 * done // total if total else 0
        if last == [pct]:
            return  # redraw on a new percent only: a long upload polls hundreds of times
        last[:] = [pct]
        text = {"text/plain": f"{label} {bar_text(done, total)}"}
        if handle is None:
            handle = display(text, raw=True, display_id=True)
        else:
            handle.update(text, raw=True)

    return update


@magics_class
class KernelSwitchMagics(Magics):
    """``%vm ...`` and ``%pyenv ...``; ``%vm --help`` lists the verbs."""

    @line_magic
    def pyenv(self, line: str) -> Any:
        """Python environments: %pyenv list|current|compare|switch|align."""
        with _user_errors("%pyenv"):
            return self._pyenv(_parse(_pyenv_parser(), line))
        return None  # only --help gets here (it printed the help)

    def _pyenv(self, args: Any) -> Any:
        from ._pyenv import run

        return run(args, _UsageError)

    @line_magic
    def vm(self, line: str) -> Any:
        """Virtual machines: %vm list|create|start|shutdown|... (see %vm --help)."""
        from . import vm_grammar

        with _user_errors("%vm"):
            return self._vm(_parse(vm_grammar.build_parser("%vm"), line))
        return None  # only --help gets here (it printed the help)

    def _vm(self, args: Any) -> Any:
        from . import vm_grammar

        backend = vm_grammar.RESTBackend()
        if args.vm_command == "download":
            with _download_bar(f"Downloading {args.os}") as bar:
                backend.download_progress = bar
                result = vm_grammar.run(args, backend)
        else:
            label = _LONG_VERBS.get(args.vm_command)
            subject = getattr(args, "name", None)
            if args.vm_command == "create":
                backend.upload_progress = _upload_bar()
            with _progress(f"{label} {subject!r}" if label else None):
                result = vm_grammar.run(args, backend)
        if getattr(args, "json", False):
            return result.to_json()
        if args.vm_command == "console":
            from .console import Console

            return Console(result.data["name"], scale=args.scale,
                           uri=result.data.get("uri") or "")  # fmt: skip
        if args.vm_command == "serial":
            from .serial import Serial

            return Serial(result.data["name"])
        if args.vm_command == "manager":
            from .vm_widgets import VMManager

            return VMManager()
        if args.vm_command == "new":
            from .vm_widgets import CreateVM

            return CreateVM(iso=result.data["iso"], name=result.data["name"])
        text = vm_grammar.format_human(result, prog="%vm")
        if text:
            print(text)
        return None
