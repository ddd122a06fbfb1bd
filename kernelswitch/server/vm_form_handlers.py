"""REST for the create-VM form: ``POST vmspec`` (check a request) and ``GET isos``.

``POST vmspec`` takes the body ``POST vms`` takes, every key optional, and
answers what ``POST vms`` would do with it — without creating anything:
one message per field that is wrong (``errors``: ``name``, ``iso``, ``os``,
``memory``, ``cpus``, ``disk``), the OS (identified from the ISO by libosinfo,
or the one asked for) and the sizes a create would use (the OS's
recommendations capped by the host, as ``vm create`` does). The form calls it
as the user types, so a mistake is shown beside its field before Create.

``GET isos`` lists the installer images in the download folder
(``%vm download`` puts them there), so the form can offer them.

Both are read-only: nothing is defined, made or deleted.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..errors import KernelSwitchError
from ..vm.errors import InvalidVMSpec
from . import schemas as S
from .vm_handlers import CREATE_SCHEMA, VMBaseHandler
from .vm_manage_handlers import listing_schema

FIELDS = ("name", "iso", "os", "memory", "cpus", "disk", "shares", "uri")
#: At most this many ISOs are listed (a download folder is small; a huge one is not ours).
MAX_ISOS = 200

#: ``POST vms``'s body with every key optional (a form is checked while half filled),
#: but not none: an empty check is a client's mistake.
CHECK_SCHEMA: dict[str, Any] = {
    **{k: v for k, v in CREATE_SCHEMA.items() if k != "required"},
    "minProperties": 1,
}
_CHECKED = {
    "type": "object",
    "required": ["ok", "errors", "os", "identified", "spec"],
    "properties": {
        "ok": {"type": "boolean", "description": "true when POST vms would accept this"},
        "errors": {
            "type": "object",
            "description": "field -> what is wrong with it and what to do",
            "additionalProperties": {"type": "string"},
        },
        "os": {"oneOf": [{"$ref": "#/components/schemas/OS"}, {"type": "null"}]},
        "identified": {"type": "boolean", "description": "the OS came from the ISO"},
        "spec": {
            "type": ["object", "null"],
            "description": "name, iso, os, memory (bytes), cpus, disk (bytes) a create would use",
        },
        "host": {"type": ["object", "null"], "description": "memory, cpus, disk the host has"},
    },
}


def _field(error: KernelSwitchError, default: str) -> str:
    """Which form field an engine error is about (its details name it)."""
    details = getattr(error, "details", None) or {}
    named = details.get("field")
    if named in FIELDS:
        return str(named)
    for key in ("name", "iso", "memory", "cpus", "disk", "os"):
        if key in details:
            return key
    return default


def _sizes(body: dict[str, Any], errors: dict[str, str], parse_size: Any) -> dict[str, Any]:
    """The sizes of *body* that parse (a bad one gets its field's error and its default)."""
    out: dict[str, Any] = {}
    for key, unit in (("memory", "M"), ("disk", "G")):
        value = body.get(key)
        if value is None or value == "":
            continue
        try:
            parse_size(value, unit, what=key)
        except InvalidVMSpec as e:
            errors[key] = e.message
        except OverflowError:
            errors[key] = f"{key} is too large to be real; give a size like 2G."
        else:
            out[key] = value
    cpus = body.get("cpus")
    if cpus is not None and cpus != "":
        try:
            n = int(str(cpus).strip())
        except ValueError:
            n = 0
        if n < 1:
            errors["cpus"] = f"vCPUs must be a whole number of at least 1, not {str(cpus)!r}."
        else:
            out["cpus"] = n
    return out


def check_request(fleet: Any, body: dict[str, Any]) -> dict[str, Any]:
    """What ``POST vms`` would make of *body* (blocking: osinfo and libvirt reads)."""
    from ..vm import osinfo
    from ..vm.host import host_limits
    from ..vm.hosts.create import _local_user
    from ..vm.spec import check_iso, check_name, parse_size, resolve_spec

    manager = fleet.manager_for(body["uri"]) if body.get("uri") else fleet.primary
    errors: dict[str, str] = {}
    existing: list[str] = []
    for m in fleet.managers:
        if getattr(m, "remote", False):
            if not m.connection.is_open:
                continue  # a remote host that is down must not hold the form
            try:
                existing += m.names()
            except KernelSwitchError:
                continue
            continue
        existing += m.names()
    name = body.get("name")
    if name is not None:
        try:
            check_name(name, existing)
        except InvalidVMSpec as e:
            errors["name"] = e.message
    iso_path = None
    iso = body.get("iso")
    in_pool = None  # an ISO already in the remote host's pools (checked there)
    if iso is not None and manager.remote and not Path(str(iso)).expanduser().is_file():
        from ..vm.hosts.media import find_pool_iso

        in_pool = manager.connection.call(lambda conn: find_pool_iso(conn, str(iso)))
    if in_pool is not None:
        if not body.get("os"):
            errors["os"] = (f"{iso} is on {manager.alias}, where its OS cannot be identified "
                            "from here: choose its OS from the list (or 'generic').")  # fmt: skip
    elif iso is not None:
        try:
            user = _local_user() if manager.remote else None  # uploaded: read by us
            iso_path = check_iso(iso, user, uri=manager.uri)
        except InvalidVMSpec as e:
            errors["iso"] = e.message
        except OSError as e:  # a path component longer than the file system allows
            errors["iso"] = (
                f"Cannot use this ISO path: {e.strerror or e}. Give an .iso file's path."
            )
    os_info = None
    identified = False
    if body.get("os"):
        try:
            os_info = osinfo.get_os(body["os"])
        except InvalidVMSpec as e:
            errors["os"] = e.message
    elif iso_path is not None:
        try:
            os_info = osinfo.identify(iso_path)
        except KernelSwitchError as e:
            errors["iso"] = e.message
        identified = os_info is not None
        if os_info is None and "iso" not in errors:
            errors["os"] = (
                "libosinfo does not recognise this ISO: choose its OS from the list (or 'generic')."
            )
    sizes = _sizes(body, errors, parse_size)
    if manager.remote:
        from ..vm.hosts.create import remote_limits

        limits = manager.connection.call(remote_limits)
    else:
        limits = host_limits(pool=manager.storage.free())
    shares = check_shares(manager, body.get("shares"), errors)
    spec = None
    if os_info is not None and (iso_path is not None or in_pool is not None):
        # the name was checked above; a placeholder lets the sizes be checked anyway
        probe = name if "name" not in errors and name else f"vmspec-{uuid.uuid4().hex[:8]}"
        try:
            resolved, _ = resolve_spec(
                probe,
                str(in_pool or iso_path),
                os_info,
                **sizes,
                existing_names=existing,
                limits=limits,
                uri=manager.uri,
                remote_iso=in_pool is not None,
                **({"user": _local_user()} if manager.remote and in_pool is None else {}),
            )
        except InvalidVMSpec as e:
            errors.setdefault(_field(e, "form"), e.message)
        except OverflowError:
            errors["memory" if body.get("memory") is not None else "disk"] = (
                "A size is too large to be real; give sizes like 2G or 20G."
            )
        else:
            spec = {
                "name": name if name == probe else None,
                "iso": resolved.iso,
                "os": resolved.os,
                "memory": resolved.memory,
                "cpus": resolved.cpus,
                "disk": resolved.disk,
            }
    return {
        "ok": not errors and spec is not None and bool(name),
        "errors": errors,
        "os": os_info.to_summary() if os_info is not None else None,
        "identified": identified,
        "spec": spec,
        "host": limits.to_json(),
        "uri": manager.uri,
        "remote": manager.remote,
        "in_pool": in_pool,
        "shares": shares,
    }


def check_shares(manager: Any, items: Any, errors: dict[str, str]) -> list[dict[str, Any]]:
    """Each ``DIR[:TAG]`` of *items* as a create would check it: ``dir``, ``tag``,
    ``error`` (None when fine); the first problem also goes to ``errors['shares']``."""
    from ..vm.guest.shares import check_share, parse_share_arg
    from ..vm.hosts.local_only import NotOnRemoteHost, refuse_remote

    out: list[dict[str, Any]] = []
    if not items:
        return out
    try:
        refuse_remote(manager, "shared folders", "shares")
    except NotOnRemoteHost as e:
        errors["shares"] = e.message
        return [{"dir": i, "tag": None, "error": e.message} for i in items]
    tags: set[str] = set()
    for n, item in enumerate(items, 1):
        entry: dict[str, Any] = {"given": item, "dir": None, "tag": None, "error": None}
        try:
            d, tag = parse_share_arg(item)
            entry["dir"], entry["tag"] = check_share(manager, d, tag)
            if entry["tag"] in tags:
                raise InvalidVMSpec(f"Two shares have the tag {entry['tag']!r}; give each its "
                                    "own (DIR:TAG).")  # fmt: skip
            tags.add(entry["tag"])
        except KernelSwitchError as e:
            entry["error"] = e.message
            errors.setdefault("shares", f"Share {n} ({item}): {e.message}")
        out.append(entry)
    return out


def list_isos(folder: Path | None = None) -> list[dict[str, Any]]:
    """The ``.iso`` files in *folder* (the download folder), newest first (blocking)."""
    from ..vm.download import iso_dir

    folder = folder or iso_dir()
    out: list[dict[str, Any]] = []
    try:
        entries = list(folder.iterdir())
    except OSError:  # not made yet (nothing downloaded), or unreadable
        return []
    for path in entries:
        if path.suffix.lower() != ".iso":
            continue
        try:
            st = path.stat()
        except OSError:
            continue
        out.append({"name": path.name, "path": str(path), "size": st.st_size, "mtime": st.st_mtime})
    out.sort(key=lambda i: float(i["mtime"]), reverse=True)
    return out[:MAX_ISOS]


class VMSpecHandler(VMBaseHandler):
    """``POST vmspec``: check a create request field by field; nothing is created."""

    input_error = InvalidVMSpec
    body_schema = {"post": CHECK_SCHEMA}
    openapi = {
        "post": {
            "operationId": "checkVMSpec",
            "summary": "Check a create request (POST vms's body, keys optional) field by "
            "field and answer the OS and sizes a create would use; creates nothing",
            "responses": {"200": S.ok(_CHECKED), **S.errors(400, 503)},
        }
    }

    @web.authenticated
    @authorized
    async def post(self) -> None:
        self.send_json(await self.vms.aio(check_request, self.vms, self.body))


class ISOsHandler(VMBaseHandler):
    """``GET isos``: installer images already in the download folder."""

    openapi = {
        "get": {
            "operationId": "listISOs",
            "summary": "Installer ISOs in the download folder (name, path, size), newest "
            "first; with ?uri=HOST of a remote host, first the ISOs in its storage pools "
            "(where: host), then the server's (where: server, uploaded by a create)",
            "responses": {"200": S.ok(listing_schema("isos", {"type": "object"}))},
        }
    }

    @web.authenticated
    @authorized
    async def get(self) -> None:
        from ..vm.download import iso_dir

        isos = await self.vms.aio(list_isos)
        host = self.get_query_argument("uri", None)
        manager = self.vms.manager_for(host) if host else None
        if manager is not None and manager.remote:
            # a remote host boots what is in its pools; the server's own ISOs are
            # uploaded there by a create that names them
            from ..vm.hosts.media import pool_isos

            there = await manager.connection.acall(pool_isos)
            isos = [{**i, "where": "host", "uri": manager.uri} for i in there] + [
                {**i, "where": "server", "upload": True} for i in isos
            ]
        remote = manager is not None and manager.remote
        near = [] if remote else await self.vms.aio(isos_near_media, self.vms)
        self.send_json({"isos": isos, "folder": str(iso_dir()), "near": near})


def isos_near_media(fleet: Any) -> list[dict[str, Any]]:
    """ISOs in the folders of discs VMs use (a disc chooser offers their neighbours).

    Why: ISOs usually sit together (a ~/isos folder); the one a VM booted from
    tells where the others are. Only folders some VM already reads are listed.
    """
    from ..vm.download import iso_dir

    folders: set[Path] = set()
    try:
        vms = fleet.list()
    except KernelSwitchError:  # libvirt down: the download folder still answers
        vms = []
    for vm in vms:
        if vm.get("host", "local") != "local":
            continue  # a remote host's paths are on that host, not here
        for m in vm.get("media") or []:
            if m.get("path"):
                folders.add(Path(m["path"]).parent)
    folders.discard(iso_dir())
    seen: dict[str, dict[str, Any]] = {}
    for folder in sorted(folders):
        for iso in list_isos(folder):
            seen.setdefault(iso["path"], iso)
    return sorted(seen.values(), key=lambda i: float(i["mtime"]), reverse=True)[:MAX_ISOS]


def routes(api: str) -> list[tuple[str, Any]]:
    return [(rf"{api}/vmspec/?", VMSpecHandler), (rf"{api}/isos/?", ISOsHandler)]
