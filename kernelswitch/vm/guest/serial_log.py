"""The serial log file libvirt keeps beside a VM's pty (``<log file=...>``).

QEMU writes everything the guest prints to it, whether or not anyone holds
the console open: a :class:`~.serial.SerialSession` reads its tail to show a
new viewer what came before, and reads what it missed while its console
stream was closed (nobody watched, or the VM restarted).

Public API (stable): :func:`log_path` ``(xml)``, :func:`log_size` ``(path)``,
:func:`read_log` ``(path, start, end, limit) -> (data, skipped)``.
"""

from __future__ import annotations

import os

__all__ = ["log_path", "log_size", "read_log"]


def log_path(xml: str) -> str | None:
    """The serial log named in the domain XML *xml* (None if it keeps none)."""
    from ..domain import parse_domain

    return parse_domain(xml).get("serial_log") or None


def log_size(path: str | None) -> int | None:
    """Bytes in the log now (None when there is none or we cannot read it)."""
    if not path:
        return None
    try:
        return os.stat(path).st_size if os.access(path, os.R_OK) else None
    except OSError:
        return None


def read_log(path: str, start: int, end: int, limit: int) -> tuple[bytes, int]:
    """Bytes *start*..*end* of the log, at most the last *limit* of them:
    ``(data, skipped)`` (*skipped*: bytes of the range left out). Empty if unreadable."""
    start = max(0, min(start, end))
    skipped = max(0, end - start - limit)
    try:
        with open(path, "rb") as f:
            f.seek(start + skipped)
            return f.read(end - start - skipped), skipped
    except OSError:
        return b"", 0
