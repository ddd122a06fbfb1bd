"""Bounded worker pools, one per subsystem, so one cannot starve another.

Public API (stable):

- :func:`run_in` ``(pool, fn, *args, **kwargs)`` — await ``fn(...)`` in the
  named pool's threads (``"libvirt"``, ``"files"``, ``"osinfo"``; a new name
  gets its own small pool).
- :func:`executor` ``(pool)`` — the pool itself (a ``ThreadPoolExecutor``).
- :data:`POOL_SIZES` — threads per pool.

Why separate pools: asyncio's default executor is shared by everything in the
server. Six blocked libvirt waits used to fill it on a 2-core machine, and then
``GET envs`` could not even read a file. Each subsystem now queues only behind
itself; long *waits* (a guest powering off) never hold a thread at all: they
``await`` events or ``asyncio.sleep`` (see :mod:`kernelswitch.vm.waits`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["POOL_SIZES", "executor", "run_in", "shutdown_all"]

T = TypeVar("T")

#: Threads per pool. libvirt calls are short RPCs (waits are async), file scans
#: are bounded by a deadline, osinfo reads a few ISO sectors.
POOL_SIZES = {"libvirt": 6, "files": 2, "osinfo": 2}
_DEFAULT_SIZE = 2

_pools: dict[str, concurrent.futures.ThreadPoolExecutor] = {}
_lock = threading.Lock()


def executor(pool: str) -> concurrent.futures.ThreadPoolExecutor:
    """The thread pool called *pool* (made on first use)."""
    with _lock:
        ex = _pools.get(pool)
        if ex is None:
            ex = _pools[pool] = concurrent.futures.ThreadPoolExecutor(
                POOL_SIZES.get(pool, _DEFAULT_SIZE), thread_name_prefix=f"ks-{pool}"
            )
        return ex


async def run_in(pool: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in *pool*'s threads (context variables carried over)."""
    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()
    call = functools.partial(ctx.run, fn, *args, **kwargs)
    return await loop.run_in_executor(executor(pool), call)


def shutdown_all() -> None:
    """Stop every pool without waiting for stuck threads (server shutdown, tests)."""
    with _lock:
        pools = list(_pools.values())
        _pools.clear()
    for ex in pools:
        ex.shutdown(wait=False, cancel_futures=True)
