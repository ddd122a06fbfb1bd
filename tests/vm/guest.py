"""Drive the test OS's shells and read the answers from its serial log.

The test OS runs a shell on its VGA console (tty1) and one on its serial port
(ttyS0, prompt ``testos# ``), which the domain logs to a file. :func:`ask`
writes ``printf '%s=%sEND' TOKEN "$(COMMAND)"`` to the serial shell through
libvirt's console stream and returns what follows ``TOKEN=`` in the log.
The serial port, not the keyboard: QEMU's PS/2 keyboard holds 16 bytes and
drops keys while a guest under TCG is busy (seen: the end of a typed command
line lost, the shell waiting for it forever), whereas its UART takes input
only as fast as the guest reads it. :func:`type_text` is for the tests of the
keyboard itself (libvirt's send-key, one key at a time).
"""

from __future__ import annotations

import contextlib
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


#: The serial shell's prompt (the test OS's init starts it after its READY marker).
PROMPT = "testos# "


def serial_run(conn: Any, name: str, serial_log: str | Path, line: str) -> None:
    """Send *line* (and Enter) to the guest's serial shell, and return once the
    guest took it: its echo, marked by a no-op ``: MARK;`` in front (where the
    line editor never wraps it), is in the log. The console stream stays open
    until then: QEMU reads a pty only while a client has it open, so bytes sent
    just before closing would wait for the next client."""
    import libvirt

    from .conftest import BOOT_TIMEOUT, MARKER

    text = Path(serial_log).read_text(errors="replace")
    if MARKER in text and PROMPT not in text[text.rfind(MARKER) :]:  # just booted
        wait_serial_after(serial_log, MARKER, PROMPT, BOOT_TIMEOUT)
    mark = f"K{next(_COUNTER)}{uuid.uuid4().hex[:4]}"
    stream = conn.newStream(0)
    conn.lookupByName(name).openConsole(None, stream, 0)
    try:
        data = f": {mark}; {line}\n".encode()
        while data:
            data = data[stream.send(data) :]
        deadline = time.monotonic() + 60
        while mark not in Path(serial_log).read_text(errors="replace"):
            if time.monotonic() > deadline:
                tail = Path(serial_log).read_text(errors="replace")[-1500:]
                pytest.fail(f"the guest's serial shell did not take {line!r} in 60 s:\n{tail}")
            time.sleep(0.1)
        stream.finish()
    except BaseException:
        with contextlib.suppress(libvirt.libvirtError):
            stream.abort()
        raise


def wait_serial_after(serial_log: str | Path, first: str, then: str, timeout: float) -> None:
    """Wait until *then* follows the last *first* in the serial log."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = Path(serial_log).read_text(errors="replace")
        if then in text[text.rfind(first) :]:
            return
        time.sleep(0.2)
    pytest.fail(f"no {then!r} after {first!r} in {serial_log} in {timeout:g} s:\n{text[-1500:]}")


def ask(conn: Any, name: str, serial_log: str | Path, command: str, timeout: float = 60) -> str:
    """Run *command* in the guest's serial shell; its stdout (one line) as a string.
    The line typed does not contain ``TOKEN=``, so its echo is never taken for the answer."""
    token = f"Q{next(_COUNTER)}{uuid.uuid4().hex[:4]}"
    serial_run(conn, name, serial_log, f"printf '%s=%sEND\\n' {token} \"$({command})\"")
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
