"""Drive the test OS's console shell and read the answers from its serial log.

The test OS runs a shell on its VGA console (tty1); keys typed there with
libvirt's send-key reach it, and commands write their answers to
``/dev/ttyS0``, which the domain logs to a file. :func:`ask` types
``echo TOKEN=$(COMMAND) > /dev/ttyS0`` and returns what follows ``TOKEN=``.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

# Linux input keycodes (VIR_KEYCODE_SET_LINUX), US layout.
_KEYS = {
    **{c: k for c, k in zip("1234567890", range(2, 12), strict=True)},
    **{c: k for c, k in zip("qwertyuiop", range(16, 26), strict=True)},
    **{c: k for c, k in zip("asdfghjkl", range(30, 39), strict=True)},
    **{c: k for c, k in zip("zxcvbnm", range(44, 51), strict=True)},
    " ": 57, "\n": 28, "-": 12, "=": 13, ";": 39, "'": 40, ",": 51, ".": 52, "/": 53,
    "[": 26, "]": 27, "\\": 43, "`": 41,
}  # fmt: skip
_SHIFTED = {
    ">": ".", "<": ",", "_": "-", "+": "=", ":": ";", '"': "'", "|": "\\", "?": "/",
    "!": "1", "@": "2", "#": "3", "$": "4", "%": "5", "^": "6", "&": "7", "*": "8",
    "(": "9", ")": "0", "{": "[", "}": "]", "~": "`",
}  # fmt: skip
_SHIFT = 42
_COUNTER = itertools.count(1)


def type_text(dom: Any, text: str, hold_ms: int = 30) -> None:
    """Type *text* on the guest's keyboard (libvirt send-key, one key at a time)."""
    import libvirt

    for ch in text:
        if ch in _SHIFTED:
            codes = [_SHIFT, _KEYS[_SHIFTED[ch]]]
        elif ch.isupper():
            codes = [_SHIFT, _KEYS[ch.lower()]]
        else:
            codes = [_KEYS[ch]]
        dom.sendKey(libvirt.VIR_KEYCODE_SET_LINUX, hold_ms, codes, len(codes), 0)


def ask(conn: Any, name: str, serial_log: str | Path, command: str, timeout: float = 60) -> str:
    """Run *command* in the guest's shell; its stdout (one line) as a string."""
    token = f"Q{next(_COUNTER)}{uuid.uuid4().hex[:4]}"
    type_text(conn.lookupByName(name), f"echo {token}=$({command})END > /dev/ttyS0\n", hold_ms=10)
    pattern = re.compile(rf"{token}=(.*?)END")
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = Path(serial_log).read_text(errors="replace")
        m = pattern.search(text)
        if m:
            return m.group(1).strip()
        time.sleep(0.2)
    pytest.fail(f"no answer to {command!r} in {serial_log} after {timeout:g} s:\n{text[-1500:]}")


class Events:
    """Collects VMEvents from the shared connection (called on libvirt's event thread)."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.cond = threading.Condition()

    def __call__(self, event: Any) -> None:
        with self.cond:
            self.items.append(event)
            self.cond.notify_all()

    def wait_for(self, pred: Any, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for e in self.items:
                    if pred(e):
                        return e
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"no matching VM event within {timeout:g} s; got {self.items}")
                self.cond.wait(left)
