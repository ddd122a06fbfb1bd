"""Root of kernelswitch's user-facing errors.

Each subsystem has a small tree below :class:`KernelSwitchError`. A user error
carries a machine code, an HTTP status for the REST API, and a message that
says what was wrong and what to do. Low-level errors (libvirt, gi, OSError) are
translated into these at one boundary per subsystem.
"""

from __future__ import annotations

from typing import Any


class KernelSwitchError(Exception):
    """A user-facing error: ``str(err)`` is the whole message."""

    code = "error"
    http_status = 400

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return {"error": body}
