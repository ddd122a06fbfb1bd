"""Keys by name: browser codes, key combinations and text, as (qnum, keysym) events.

Public API (stable):

- :func:`key_events` ``(code, key=None)`` -> ``(qnum, keysym)`` for one browser
  ``KeyboardEvent.code`` (the keysym from ``key`` when it is one character).
- :func:`combo_events` ``("ctrl+alt+delete")`` -> press/release list.
- :func:`text_events` ``("echo hi\\n")`` -> press/release list (US layout).
- :func:`text_chords` ``("echo hi\\n")`` -> lists of qnums, each pressed in order
  and released in reverse by one libvirt ``sendKey`` (:mod:`.typist` says why).

Keys go by physical position (qnum), so the guest's own keyboard layout decides
what character a key makes, exactly as with a real keyboard. The keysym rides
along for servers that ignore the position (never QEMU with -258).
"""

from __future__ import annotations

from .errors import BadInput
from .keymap import CHARS, CODES

#: Friendly names for :func:`combo_events` (besides every KeyboardEvent.code).
ALIASES = {
    "ctrl": "ControlLeft", "control": "ControlLeft", "shift": "ShiftLeft",
    "alt": "AltLeft", "altgr": "AltRight", "meta": "MetaLeft", "super": "MetaLeft",
    "win": "MetaLeft", "cmd": "MetaLeft", "del": "Delete", "delete": "Delete",
    "esc": "Escape", "escape": "Escape", "enter": "Enter", "return": "Enter",
    "tab": "Tab", "space": "Space", "backspace": "Backspace", "bksp": "Backspace",
    "ins": "Insert", "insert": "Insert", "home": "Home", "end": "End",
    "pgup": "PageUp", "pageup": "PageUp", "pgdn": "PageDown", "pagedown": "PageDown",
    "up": "ArrowUp", "down": "ArrowDown", "left": "ArrowLeft", "right": "ArrowRight",
    "prtsc": "PrintScreen", "printscreen": "PrintScreen", "sysrq": "PrintScreen",
    "menu": "ContextMenu", "capslock": "CapsLock", "numlock": "NumLock",
    "scrolllock": "ScrollLock",
}  # fmt: skip
_LOWER_CODES = {c.lower(): c for c in CODES}

#: (qnum, keysym, down)
KeyEvent = tuple[int, int, bool]
MAX_TEXT = 4096


def keysym_for_char(ch: str) -> int:
    """X11 keysym of one character (Latin-1 directly, else the Unicode range)."""
    o = ord(ch)
    if 0x20 <= o <= 0x7E or 0xA0 <= o <= 0xFF:
        return o
    if ch == "\n":
        return 0xFF0D
    if ch == "\t":
        return 0xFF09
    return 0x01000000 | o


def key_events(code: str, key: str | None = None) -> tuple[int, int]:
    """``(qnum, keysym)`` for a browser ``KeyboardEvent.code``."""
    try:
        qnum, keysym = CODES[code]
    except KeyError:
        raise BadInput(f"unknown key code {code!r}; use a KeyboardEvent.code like 'KeyA'") from None
    if key is not None and len(key) == 1:
        keysym = keysym_for_char(key)
    return qnum, keysym


def _code_of(name: str) -> str:
    n = name.strip()
    low = n.lower()
    if low in ALIASES:
        return ALIASES[low]
    if low in _LOWER_CODES:
        return _LOWER_CODES[low]
    if len(n) == 1 and n.lower() in CHARS:
        return CHARS[n.lower()][0]
    if low.startswith("f") and low[1:].isdigit() and f"F{low[1:]}" in CODES:
        return f"F{low[1:]}"
    raise BadInput(
        f"unknown key {name!r} in a key combination; use names like ctrl, alt, shift, "
        "delete, f2, a, or KeyboardEvent codes like 'KeyA'"
    )


def combo_events(combo: str) -> list[KeyEvent]:
    """Press every key of ``"ctrl+alt+delete"`` in order, release in reverse."""
    names = [p for p in combo.replace(" ", "").split("+") if p] if combo != "+" else ["+"]
    if not names:
        raise BadInput("an empty key combination; say which keys, e.g. 'ctrl+alt+delete'")
    codes = [_code_of(n) for n in names]
    downs = [(*CODES[c], True) for c in codes]
    ups = [(*CODES[c], False) for c in reversed(codes)]
    return downs + ups


def text_events(text: str) -> list[KeyEvent]:
    """Keystrokes that type *text* on a guest with a US keyboard layout."""
    if len(text) > MAX_TEXT:
        raise BadInput(f"text too long to type ({len(text)} characters; at most {MAX_TEXT})")
    shift = CODES["ShiftLeft"]
    out: list[KeyEvent] = []
    for ch in text:
        if ch not in CHARS:
            raise BadInput(
                f"cannot type {ch!r}: only characters of a US keyboard can be typed as keystrokes"
            )
        code, shifted = CHARS[ch]
        qnum, _ = CODES[code]
        sym = keysym_for_char(ch)
        if shifted:
            out.append((*shift, True))
        out += [(qnum, sym, True), (qnum, sym, False)]
        if shifted:
            out.append((*shift, False))
    return out


#: Keys of one chord: QEMU's input queue holds 50 items, 3 per paced key event,
#: and a chord of n keys is 2n events (so 5 keys leave room for the ones in flight).
CHORD_KEYS = 5


def text_chords(text: str) -> list[list[int]]:
    """*text* as chords of distinct keys sharing one Shift state (US layout).

    Pressing ``e c h o`` together and releasing them in reverse types
    ``echo`` (a key makes its character when it goes down), in 8 events like
    one at a time, but in one libvirt call instead of four.
    """
    text_events(text)  # the same checks and messages (length, untypable characters)
    shift = CODES["ShiftLeft"][0]
    chords: list[list[int]] = []
    keys: list[int] = []
    shifted = False
    for ch in text:
        code, needs_shift = CHARS[ch]
        qnum = CODES[code][0]
        room = CHORD_KEYS - len(keys) - (1 if shifted else 0)
        if keys and (needs_shift != shifted or qnum in keys or room < 1):
            chords.append([shift, *keys] if shifted else keys)
            keys = []
        shifted = needs_shift
        keys.append(qnum)
    if keys:
        chords.append([shift, *keys] if shifted else keys)
    return chords
