"""Where kernelswitch keeps files outside the repository."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The user cache dir (``$KERNELSWITCH_CACHE`` or ``~/.cache/kernelswitch``)."""
    env = os.environ.get("KERNELSWITCH_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "kernelswitch"


#: The test OS for root: a system cache folder the hypervisor user can read.
SYSTEM_TESTOS_DIR = Path("/var/cache/kernelswitch/testos")


def testos_dir() -> Path:
    """Where the test OS images are built and cached (``$KERNELSWITCH_TESTOS_DIR``).

    Root's guests run as ``libvirt-qemu``, which cannot enter ``/root`` (0700):
    root's test OS lives in :data:`SYSTEM_TESTOS_DIR`, as root's disk pool
    lives in ``/var/lib/kernelswitch``, so that nothing has to change the
    permissions of a home folder. Other users' session guests run as
    themselves and read their own cache.
    """
    env = os.environ.get("KERNELSWITCH_TESTOS_DIR")
    if env:
        return Path(env)
    return SYSTEM_TESTOS_DIR if os.geteuid() == 0 else cache_dir() / "testos"
