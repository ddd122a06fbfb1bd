"""Tiny, dependency-free names that every layer shares.

The engines (``vm/``), the server, the CLI and the kernel side all speak of
the same VM verbs and print sizes the same way; this module holds those few
names so that the kernel side never has to import ``vm/`` to know them.
"""

from __future__ import annotations

#: The VM verbs that run a domain and answer with its info (``POST vms/{name}/{verb}``).
RUN_ACTIONS = ("start", "shutdown", "destroy", "reboot", "suspend", "resume")

KiB = 1024
MiB = 1024**2
GiB = 1024**3
TiB = 1024**4


def human_size(n: int) -> str:
    """``2147483648`` -> ``2G``; ``1610612736`` -> ``1.5G``."""
    for unit, size in (("T", TiB), ("G", GiB), ("M", MiB), ("K", KiB)):
        if n >= size:
            value = n / size
            return f"{value:.0f}{unit}" if value == int(value) else f"{value:.1f}{unit}"
    return f"{n}B"
