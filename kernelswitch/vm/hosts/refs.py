"""Naming a VM with its host: ``name`` alone, or ``name`` on a chosen URI or alias.

Public API (stable): :func:`ref` ``(name, uri) -> str``, :func:`split_ref`
``(ref) -> (name, uri | None)``, :func:`find_host` ``(uris, wanted) -> uri``,
errors :class:`VMAmbiguous` (409 ``vm_ambiguous``) and :class:`UnknownHost`
(400 ``unknown_host``).

Why a ref string: every by-name path (operation locks, console sessions,
the fleet's verbs) already keys on a string; a ref that carries its URI keys
them per host without changing each of them. A ref never reaches libvirt:
the fleet splits it before calling a manager. The separator (a control
character) cannot appear in a VM name kernelswitch accepts or in a URI.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import InvalidVMSpec, VMError
from .uri import HostURI

SEP = "\x1f"


class VMAmbiguous(VMError):
    """Several hosts have a VM by that name; ``details['uris']`` lists them."""

    code = "vm_ambiguous"
    http_status = 409


class UnknownHost(InvalidVMSpec):
    code = "unknown_host"


def ref(name: str, uri: str | None) -> str:
    return name if not uri else f"{name}{SEP}{uri}"


def split_ref(value: str) -> tuple[str, str | None]:
    name, sep, uri = value.partition(SEP)
    return name, (uri if sep else None)


def find_host(uris: Sequence[str], wanted: str) -> str:
    """The configured URI that *wanted* names: the URI itself, or its alias."""
    wanted = wanted.strip()
    for uri in uris:
        if wanted == uri:
            return uri
    matches = [u for u in uris if HostURI.parse(u).alias == wanted]
    if not matches:  # a host name alone, when one URI has it
        matches = [u for u in uris if HostURI.parse(u).host == wanted]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(f"{HostURI.parse(u).alias} ({u})" for u in uris)
    why = "names several hosts" if matches else "is not a configured host"
    raise UnknownHost(
        f"{wanted!r} {why}. Give one of: {known}. Hosts come from "
        "KernelSwitchApp.libvirt_uris.",
        details={"field": "uri", "uri": wanted, "uris": list(uris)},
    )
