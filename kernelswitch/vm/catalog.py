"""The install media libosinfo knows: OS, version, architecture, URL.

Public API (stable):

- :func:`catalog` ``(query=None) -> list[dict]`` — every medium with a
  download URL (``os`` short id, ``name``, ``version``, ``arch``, ``url``,
  ``volume_size`` or None, ``live``, ``index`` among that OS's media),
  filtered by every word of *query* (matched against id, name, arch and URL).
- :func:`find_media` ``(os, arch=None, index=None) -> dict`` — the one to
  download; unknown OSes and OSes without downloadable media are clear errors
  with close matches.
- :func:`media_url` ``(url) -> str`` — the URL to fetch, through
  ``$KERNELSWITCH_ISO_MIRROR`` when set: ``{mirror}/{host}{path}``, for users
  behind a mirror or proxy cache (and tests on 127.0.0.1).
"""

from __future__ import annotations

import difflib
import os
from typing import Any
from urllib.parse import urlsplit

from .errors import InvalidVMSpec

__all__ = ["MIRROR_ENV", "catalog", "find_media", "media_url"]

MIRROR_ENV = "KERNELSWITCH_ISO_MIRROR"
DEFAULT_ARCH = "x86_64"


def _all_media() -> list[dict[str, Any]]:
    from .osinfo import _DB_LOCK, _db

    out = []
    with _DB_LOCK:
        oses = _db().get_os_list()
        for i in range(oses.get_length()):
            o = oses.get_nth(i)
            media = o.get_media_list()
            index = 0
            for j in range(media.get_length()):
                m = media.get_nth(j)
                url = m.get_url()
                if not url:
                    continue
                size = m.get_volume_size()
                out.append(
                    {
                        "os": o.get_short_id(),
                        "name": o.get_name(),
                        "version": o.get_version(),
                        "arch": m.get_architecture(),
                        "url": url,
                        "volume_size": size if size and size > 0 else None,
                        "live": bool(m.get_live()),
                        "index": index,
                    }
                )
                index += 1
    return sorted(out, key=lambda r: (r["os"], r["index"]))


def catalog(query: str | None = None) -> list[dict[str, Any]]:
    rows = _all_media()
    words = (query or "").lower().split()
    if not words:
        return rows

    def hay(r: dict[str, Any]) -> str:
        return " ".join(str(r[k] or "") for k in ("os", "name", "version", "arch", "url")).lower()

    return [r for r in rows if all(w in hay(r) for w in words)]


def find_media(os_id: str, arch: str | None = None, index: int | None = None) -> dict[str, Any]:
    """The medium of *os_id* to download (first of *arch*, or number *index*)."""
    rows = _all_media()
    mine = [r for r in rows if r["os"] == os_id]
    if not mine:
        known = sorted({r["os"] for r in rows})
        close = difflib.get_close_matches(os_id, known, n=4, cutoff=0.6)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        msg = (
            f"No downloadable media for OS {os_id!r}.{hint} Search the catalogue with "
            "`vm catalog QUERY` (e.g. `vm catalog fedora`)."
        )
        raise InvalidVMSpec(msg, details={"os": os_id, "suggestions": close})
    if index is not None:
        for r in mine:
            if r["index"] == index:
                return r
        msg = f"{os_id} has media 0 to {len(mine) - 1}; `vm catalog {os_id}` lists them."
        raise InvalidVMSpec(msg, details={"os": os_id})
    want = arch or DEFAULT_ARCH
    for r in mine:
        if r["arch"] == want:
            return r
    archs = sorted({r["arch"] for r in mine})
    msg = f"{os_id} has no {want} media (only {', '.join(archs)}); pass --arch."
    raise InvalidVMSpec(msg, details={"os": os_id, "archs": archs})


def media_url(url: str) -> str:
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if not mirror:
        return url
    parts = urlsplit(url)
    return f"{mirror.rstrip('/')}/{parts.netloc}{parts.path}"
