"""libvirt itself: the lazy import, what its errors mean, closing a connection.

Private helpers of :mod:`.connection` (which re-exports ``libvirt_module``,
``is_connection_error`` and ``is_pool_busy`` as its public API).
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from .errors import HostError

log = logging.getLogger("kernelswitch.vm.connection")

_QUIET = False


def libvirt_module() -> Any:
    """Import libvirt lazily; a missing binding is a host problem with a fix."""
    try:
        import libvirt
    except ImportError as e:
        msg = (
            "The libvirt Python binding is missing. Install it with "
            "`pip install libvirt-python` (needs the Debian packages libvirt-dev and pkg-config)."
        )
        raise HostError(msg) from e
    global _QUIET
    if not _QUIET:
        # libvirt prints every error to stderr by default; ours are raised instead.
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
        _QUIET = True
    return libvirt


def is_pool_busy(err: BaseException) -> bool:
    """Whether a libvirtError says a storage pool has another client's job running."""
    libvirt = libvirt_module()
    return isinstance(err, libvirt.libvirtError) and "asynchronous jobs running" in str(err)


def is_connection_error(err: BaseException) -> bool:
    """Whether a libvirtError means the link to the daemon is gone (worth a reconnect)."""
    libvirt = libvirt_module()
    if not isinstance(err, libvirt.libvirtError):
        return False
    code = err.get_error_code()
    domain = err.get_error_domain()
    if code in (
        libvirt.VIR_ERR_NO_CONNECT,
        libvirt.VIR_ERR_INVALID_CONN,
        libvirt.VIR_ERR_RPC,
        libvirt.VIR_ERR_AUTH_CANCELLED,
    ):
        return code != libvirt.VIR_ERR_AUTH_CANCELLED
    if domain in (libvirt.VIR_FROM_RPC, libvirt.VIR_FROM_REMOTE):
        return True
    text = str(err).lower()
    return "client socket is closed" in text or "connection reset" in text or "broken pipe" in text


def _alive(c: Any) -> bool:
    if c is None:
        return False
    try:
        return bool(c.isAlive())
    except Exception:
        return False


def _teardown(c: Any, ids: list[int], uri: str, grace: float = 0.0) -> None:
    """Deregister and close a connection we no longer use (no lock of ours held).

    Each step may fail on a dead link; that is fine, the daemon forgot us anyway.
    *grace*: seconds to wait before the close, for threads still inside a call
    on it (the binding's ``close()`` leaves the Python object unusable).
    """
    for i in ids:
        with contextlib.suppress(Exception):
            c.domainEventDeregisterAny(i)
    with contextlib.suppress(Exception):
        c.unregisterCloseCallback()
    if grace:
        time.sleep(grace)
    with contextlib.suppress(Exception):
        c.close()
    log.debug("libvirt %s: old connection torn down", uri)
