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


def testos_dir() -> Path:
    """Where the test OS images are built and cached (``$KERNELSWITCH_TESTOS_DIR``)."""
    env = os.environ.get("KERNELSWITCH_TESTOS_DIR")
    return Path(env) if env else cache_dir() / "testos"
