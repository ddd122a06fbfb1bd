"""The argparse flavour of the ``vm`` grammar: one-line usage errors with the fix.

- :class:`GrammarError` — the words typed do not fit the grammar.
- :func:`parser_class` ``(raise_errors)`` — raising (the magics) or exiting
  with status 2 (the CLI), both saying one line.
- :func:`for_prog` ``(message, prog)`` — command hints spelled as the user typed.

Kernel side: nothing here imports ``vm/``, ``server/`` or libvirt.
"""

from __future__ import annotations

import argparse
import difflib
import re
from typing import Any, NoReturn

from ..errors import KernelSwitchError

__all__ = ["GrammarError", "for_prog", "parser_class"]


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
