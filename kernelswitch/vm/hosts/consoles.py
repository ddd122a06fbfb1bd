"""The VNC of a domain on a remote host: its unix socket there, through SSH.

Public API (stable): :func:`vnc_socket` ``(xml) -> path | None`` (the live
XML's ``<listen type='socket' socket=...>``), :func:`open_remote`
``(manager, name) -> (reader, writer)``.

A remote domain that only allows local descriptors (``<listen type='none'/>``,
what local domains get) cannot be reached from here; it says so, as
virt-manager does, and says how to change it. ``openGraphicsFD`` is never
tried: on a remote connection it fails and closes the libvirt connection.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from ...console.errors import ConsoleUnavailable
from .uri import HostURI


def vnc_socket(xml: str) -> str | None:
    """Where the domain's VNC listens on its host (live XML), or None."""
    root = ET.fromstring(xml)
    for g in root.findall("./devices/graphics[@type='vnc']"):
        path = g.get("socket")
        for listen in g.findall("listen"):
            if listen.get("type") == "socket":
                path = listen.get("socket") or path
        if path:
            return path
    return None


def _listens(xml: str) -> list[str]:
    root = ET.fromstring(xml)
    return [
        str(x.get("type")) for g in root.findall("./devices/graphics") for x in g.findall("listen")
    ]


async def open_remote(manager: Any, name: str) -> tuple[Any, Any]:
    """A stream pair to VM *name*'s VNC on *manager*'s remote host."""
    from ..manager import _translate
    from .tunnel import open_unix

    try:
        xml = await manager.connection.acall(lambda conn: conn.lookupByName(name).XMLDesc(0))
    except Exception as e:
        err = _translate(e, name)
        if err is e:
            raise
        raise ConsoleUnavailable(
            f"Cannot open the console of VM {name!r}: {err}", details={"name": name}
        ) from e
    path = vnc_socket(xml)
    host = HostURI.parse(manager.uri).alias
    if path is None:
        listens = _listens(xml) or ["none"]
        raise ConsoleUnavailable(
            f"VM {name!r} on {host} only allows local connections to its console "
            f"(<listen type='{listens[0]}'/>), which a remote host cannot pass to us. "
            "Give its <graphics type='vnc'> a <listen type='socket'/> (`virsh edit`, "
            "then restart the VM); VMs kernelswitch creates there get it.",
            details={"name": name, "uri": manager.uri, "listen": listens},
        )
    try:
        return await open_unix(manager.uri, path)
    except Exception as e:
        raise ConsoleUnavailable(
            f"Cannot reach the console of VM {name!r} on {host}: {getattr(e, 'message', e)}",
            details={"name": name, "uri": manager.uri},
        ) from e
