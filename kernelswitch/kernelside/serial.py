"""The VM serial terminal widget and its Python API (pexpect-like; works without a browser).

Public API (stable): :class:`Serial` ``(vm)``:

- ``send(text)`` — type *text* on the guest's serial port (``\\n`` is Enter)
- ``read()`` — everything the port printed since the last ``read``/``expect``
  (or since this object was made)
- ``expect(pattern, timeout=30)`` — wait until the output matches *pattern*
  (a regex string or compiled pattern) and return the ``re.Match``; what came
  before and the match itself are consumed, the rest stays for the next call.
  :class:`SerialTimeout` when it does not come (its message shows the tail).

The browser view (xterm.js) opens its own websocket to the server
(``kernelswitch/api/vms/{name}/serial``); the Python calls use the REST
endpoints ``serial/output`` and ``serial/input``, so they work with no browser
open. Kernel side: imports nothing from ``vm/`` or ``server/``.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import quote

from traitlets import Unicode

from ..errors import KernelSwitchError
from .client import request
from .widgets import _KSWidget

__all__ = ["Serial", "SerialTimeout"]

#: Seconds one poll of the server waits for output.
POLL = 5.0


class SerialTimeout(KernelSwitchError):
    code = "serial_timeout"
    http_status = 408


class Serial(_KSWidget):
    """A VM's serial port: a terminal in the notebook, and send/expect/read from Python."""

    _view = Unicode("serial").tag(sync=True)

    vm = Unicode(help="Name of the VM.").tag(sync=True)
    status = Unicode("", help="What the terminal view shows: connected, stopped, ...").tag(
        sync=True
    )

    def __init__(self, vm: str, **kwargs: Any) -> None:
        if not isinstance(vm, str) or not vm:
            raise KernelSwitchError("Serial needs a VM name, e.g. Serial('my-vm').")
        super().__init__(vm=vm, **kwargs)
        self._buffer = ""
        # start reading from now: what the guest prints from here on is ours
        self._offset = int(self._output(None, 0.0)["end"])

    @property
    def _path(self) -> str:
        return f"vms/{quote(self.vm, safe='')}/serial"

    def _output(self, since: int | None, wait: float) -> dict[str, Any]:
        q = f"?wait={max(0.0, min(wait, 30.0)):.1f}"
        if since is not None:
            q += f"&since={since}"
        return dict(request("GET", f"{self._path}/output{q}", timeout=wait + 30))

    def _pull(self, wait: float) -> str:
        answer = self._output(self._offset, wait)
        self._offset = int(answer["end"])
        self._buffer += answer["data"]
        return str(answer.get("state", ""))

    def send(self, text: str) -> None:
        """Send *text* to the serial port (``\\n`` is Enter)."""
        request("POST", f"{self._path}/input", {"text": text})

    def read(self) -> str:
        """What arrived since the last read/expect (waits for nothing)."""
        self._pull(0.0)
        out, self._buffer = self._buffer, ""
        return out

    def expect(self, pattern: str | re.Pattern[str], timeout: float = 30.0) -> re.Match[str]:
        """Wait for *pattern* in the output; the match (what precedes it is consumed too)."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        state = ""
        while True:
            m = rx.search(self._buffer)
            if m is not None:
                self._buffer = self._buffer[m.end() :]
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                tail = self._buffer[-300:]
                raise SerialTimeout(
                    f"{rx.pattern!r} did not appear on the serial port of VM {self.vm!r} within "
                    f"{timeout:g} s (port {state or 'unknown'}); last output: {tail!r}"
                )
            state = self._pull(min(POLL, left))
