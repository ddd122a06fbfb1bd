"""User input echoed into messages and logs, cut to a sane length."""

from __future__ import annotations

from typing import Any

__all__ = ["ECHO_LIMIT", "short"]

#: How much of a user's input a message or a log line repeats.
ECHO_LIMIT = 120


def short(value: Any, limit: int = ECHO_LIMIT) -> str:
    """*value* as text (``repr`` unless a string), cut to *limit* characters.

    A cut value says how long it was, so a 4 MB path costs a log line a few
    hundred bytes and the reader still knows what was sent.
    """
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"
