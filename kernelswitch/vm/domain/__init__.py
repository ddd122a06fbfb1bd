"""Declarative libvirt domain XML (ElementTree objects, never string formatting).

Public API (stable):

- :func:`build_domain_xml` ``(spec, os_info, *, disk_path, serial_log, uri, accel,
  host_caps=None, uuid=None, mac=None) -> str`` — the XML to ``defineXML``.
  The disk volume (qcow2) and the serial log's directory are the caller's; both
  must be reachable by the hypervisor user (see :mod:`..spec`).
- :func:`build_domain` — the same as a :class:`Domain` object, to adjust first.
- :func:`parse_domain` ``(xml) -> dict`` — id, name, uuid, OS id, memory,
  vCPUs, disks, media... for ``vm info``.
"""

from __future__ import annotations

from .builder import (
    LIBOSINFO_NS,
    Domain,
    build_domain,
    build_domain_xml,
    is_session_uri,
    random_mac,
)
from .parse import parse_domain

__all__ = [
    "LIBOSINFO_NS",
    "Domain",
    "build_domain",
    "build_domain_xml",
    "is_session_uri",
    "parse_domain",
    "random_mac",
]
