"""Typing into a VM console like a person at a US keyboard (physical keys,
Shift held for capitals and symbols): playwright's ``keyboard.type`` sends a
'>' or an 'S' without Shift, which the guest reads as '.' and 's'."""

from __future__ import annotations

from typing import Any

# US layout: shifted character -> the key it is on
SHIFTED = dict(zip('~!@#$%^&*()_+{}|:"<>?', "`1234567890-=[]\\;',./", strict=True))
CODES = {
    **{c: f"Digit{c}" for c in "0123456789"},
    " ": "Space", "-": "Minus", "=": "Equal", "[": "BracketLeft", "]": "BracketRight",
    "\\": "Backslash", ";": "Semicolon", "'": "Quote", ",": "Comma", ".": "Period",
    "/": "Slash", "`": "Backquote",
}  # fmt: skip


def code(ch: str) -> str:
    return f"Key{ch.upper()}" if ch.isalpha() else CODES[ch]


def type_like_a_person(page: Any, text: str) -> None:
    """Type with the physical keys a US keyboard needs (Shift held for symbols)."""
    for ch in text:
        if ch == "\n":
            page.keyboard.press("Enter")
        elif ch in SHIFTED or ch.isupper():
            page.keyboard.press(f"Shift+{code(SHIFTED.get(ch, ch))}")
        else:
            page.keyboard.press(code(ch))
