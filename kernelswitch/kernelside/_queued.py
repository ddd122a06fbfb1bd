"""The kernel's part in moving queued cells along with ``%pyenv switch``.

With Run All, the cells after the magic are already in this kernel's queue
when the magic runs. The server sends them again to the new kernel once this
cell ends; this kernel must not run them itself (side effects twice, in the
wrong env). So the magic tells the server it can drop them (only when the
hook below exists: ipykernel's ``kernel.shell_handlers``, in ipykernel 6 and
7), and arms the drop for exactly the msg_ids the server's answer lists.
Only the first copy is dropped: what the server sends again carries
``metadata.kernelswitch_resent``, so if the switch cannot happen, the copies
it sends back to this kernel run. The hook removes itself once every listed
cell went by.

Public API: ``this_cell() -> str | None``, ``can_drop() -> bool``,
``drop(msg_ids)``, ``armed()``.
"""

from __future__ import annotations

from typing import Any

#: metadata key of a request the server sent again (server/kernel_ws.py sets it)
RESENT = "kernelswitch_resent"


def _kernel() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    ip = get_ipython()
    return getattr(ip, "kernel", None)


def this_cell() -> str | None:
    """msg_id of the execute_request running now (ipykernel 6/7, older ones)."""
    kernel = _kernel()
    parent: Any = None
    for get in (lambda: kernel.get_parent("shell"), lambda: kernel.get_parent(),
                lambda: kernel._parent_header):
        try:
            parent = get()
        except Exception:  # try the next ipykernel API
            continue
        if parent:
            break
    header = parent.get("header") if isinstance(parent, dict) else None
    msg_id = header.get("msg_id") if isinstance(header, dict) else None
    return msg_id if isinstance(msg_id, str) and msg_id else None


def _handlers() -> dict[str, Any] | None:
    handlers = getattr(_kernel(), "shell_handlers", None)
    if isinstance(handlers, dict) and callable(handlers.get("execute_request")):
        return handlers
    return None


def _payloads() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return getattr(get_ipython(), "payload_manager", None)


def can_drop() -> bool:
    """Whether this kernel can be told to skip queued cells (and say it did)."""
    return (_handlers() is not None and this_cell() is not None
            and callable(getattr(_payloads(), "write_payload", None)))


def armed() -> None:
    """Tell the server, in this cell's execute_reply, that the drop is armed:
    only then does it swap when the cell ends (an interrupted magic never
    gets here, and its queued cells then run in this kernel as they are).
    Front ends ignore payloads of a source they do not know."""
    _payloads().write_payload({"source": "kernelswitch", "armed": True})


def drop(msg_ids: list[str]) -> bool:
    """Skip (without a reply) the first delivery of each of ``msg_ids``."""
    handlers = _handlers()
    if handlers is None or not msg_ids:
        return False
    current = handlers["execute_request"]
    pending: set[str] | None = getattr(current, "ks_drop", None)
    if pending is not None:  # already armed (a second switch in the queue)
        pending.update(msg_ids)
        return True
    original = current
    pending = set(msg_ids)

    def execute_request(stream: Any, ident: Any, parent: Any) -> Any:
        msg_id = (parent.get("header") or {}).get("msg_id")
        if msg_id in pending and not (parent.get("metadata") or {}).get(RESENT):
            pending.discard(msg_id)
            if not pending:
                handlers["execute_request"] = original
            return None  # the new kernel runs it; no reply from here
        return original(stream, ident, parent)

    execute_request.ks_drop = pending  # type: ignore[attr-defined]
    handlers["execute_request"] = execute_request
    return True
