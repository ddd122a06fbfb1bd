"""What works only on the server's own host: shared folders and port forwards.

Public API (stable): :data:`LOCAL_ONLY` (the fleet verbs refused on a remote
host), :class:`NotOnRemoteHost` (400 ``not_on_remote_host``) and
:func:`refuse_remote` ``(manager, what, field=None)``.

Why refuse rather than try: a share is a folder of the machine virtiofsd runs
on, and a forward binds a port of the machine QEMU runs on. For a VM on a
remote host both are that host's, not the server's: a folder path typed here
would be looked up there (or, worse, checked here and shared from there), and
a "forward to 127.0.0.1:8080" would open a port the user's browser cannot
reach. So they are refused up front with the reason, never attempted.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidVMSpec

#: Fleet verbs on one VM that need the VM on the server's own host.
LOCAL_ONLY = {
    "share": "shared folders",
    "unshare": "shared folders",
    "forward": "port forwards",
    "unforward": "port forwards",
    "apply_forwards": "port forwards",
}


class NotOnRemoteHost(InvalidVMSpec):
    """Asked for something that applies to the server's own host only."""

    code = "not_on_remote_host"


def refuse_remote(manager: Any, what: str, field: str | None = None) -> None:
    """Raise :class:`NotOnRemoteHost` when *manager*'s host is remote."""
    if not getattr(manager, "remote", False):
        return
    details: dict[str, Any] = {"uri": manager.uri, "host": manager.alias}
    if field:
        details["field"] = field
    raise NotOnRemoteHost(
        f"{what[0].upper()}{what[1:]} do not apply on a remote host: {manager.alias} runs "
        "its VMs on another machine, so a folder or port named here would be that "
        "machine's, not the server's. Use a VM on the local host for them (or set them "
        "up on the remote host itself).",
        details=details,
    )
