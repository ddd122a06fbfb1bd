"""Errors of the console subsystem (below :class:`~kernelswitch.errors.KernelSwitchError`)."""

from __future__ import annotations

from ..errors import KernelSwitchError


class ConsoleError(KernelSwitchError):
    code = "console_error"
    http_status = 409


class ConsoleProtocolError(ConsoleError):
    """QEMU's VNC server said something we do not understand."""

    code = "console_protocol"
    http_status = 502


class ConsoleUnavailable(ConsoleError):
    """The VM has no console now (not running, or no VNC graphics)."""

    code = "console_unavailable"
    http_status = 409


class BadInput(ConsoleError):
    """A key name, text or pointer position we cannot send."""

    code = "invalid_console_input"
    http_status = 400
