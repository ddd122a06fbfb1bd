"""The ``vm`` grammar's manage verbs: eject, insert, snapshot, clone, edit, disks,
catalog, download — their arguments, how they run, and their text output.

Used by :mod:`.vm_grammar` (which owns the parser and the run/format entry
points), so ``%vm`` and ``kernelswitch vm`` share them. Public API:
:func:`add_manage_verbs`, :func:`run_manage`, :func:`format_manage`,
:class:`RESTManage` (the REST calls, mixed into ``RESTBackend``).

Kernel side: nothing here imports ``vm/``, ``server/`` or libvirt.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from .._common import human_size
from .format import table

__all__ = [
    "MANAGE_VERBS",
    "RESTManage",
    "add_manage_verbs",
    "bar_text",
    "format_manage",
    "run_manage",
]

MANAGE_VERBS = ("eject", "insert", "snapshot", "clone", "edit", "disks", "catalog", "download")
SNAPSHOT_ACTIONS = ("list", "create", "revert", "delete")


@dataclasses.dataclass
class _Result:  # mirrors vm_grammar.Result (kept here to avoid an import cycle)
    verb: str
    data: Any


class RESTManage:
    """The manage verbs over the server's REST API (``RESTBackend`` mixes this in)."""

    _req: Callable[..., Any]
    #: Set by a caller that shows download progress (the ``%vm`` magic): ``(done, total)``.
    download_progress: Callable[[int, int | None], None] | None = None

    def media(self, name: str, action: str, options: dict[str, Any]) -> dict[str, Any]:
        return self._req("POST", f"vms/{quote(name, safe='')}/{action}", options)

    def snapshot(
        self, name: str, action: str, snap: str | None, options: dict[str, Any]
    ) -> Any:
        base = f"vms/{quote(name, safe='')}/snapshots"
        if action == "list":
            return self._req("GET", base)["snapshots"]
        if action == "create":
            return self._req("POST", base, {"name": snap, **options})
        path = f"{base}/{quote(snap or '', safe='')}"
        if action == "revert":
            return self._req("POST", f"{path}/revert", {})
        return self._req("DELETE", path)

    def clone(self, name: str, new_name: str) -> dict[str, Any]:
        return self._req("POST", f"vms/{quote(name, safe='')}/clone", {"name": new_name})

    def edit(self, name: str, changes: dict[str, Any]) -> dict[str, Any]:
        return self._req("PATCH", f"vms/{quote(name, safe='')}", changes)

    def disks(self) -> dict[str, Any]:
        return self._req("GET", "storage/disks")

    def delete_disks(self, disks: list[str]) -> dict[str, Any]:
        # One request for all: the server checks every disk before deleting any.
        return self._req("POST", "storage/disks/delete", {"disks": disks})

    def catalog(self, query: str | None) -> list[dict[str, Any]]:
        q = f"?q={quote(query)}" if query else ""
        return self._req("GET", f"osinfo/catalog{q}")["media"]

    def download(self, request: dict[str, Any]) -> dict[str, Any]:
        """One blocking request; with :attr:`download_progress`, a job polled twice a second."""
        progress = self.download_progress
        if progress is None:
            return self._req("POST", "isos/download", request)
        import time

        job = self._req("POST", "isos/download", {**request, "background": True})
        while True:
            progress(job.get("done") or 0, job.get("total"))
            if job["state"] == "done":
                return job["result"]
            if job["state"] == "failed":
                from .client import APIError

                err = job.get("error") or {}
                raise APIError(err.get("message", "download failed"),
                               code=err.get("code", "download_failed"), status=502)  # fmt: skip
            time.sleep(0.5)
            job = self._req("GET", f"isos/downloads/{job['id']}")


# ------------------------------------------------------------------ grammar


def add_manage_verbs(verb: Callable[[str, str], argparse.ArgumentParser]) -> None:
    p = verb("eject", "Eject the disc from a VM's CD/DVD drive (now and in its definition).")
    p.add_argument("name")
    p.add_argument("--target", metavar="DEV", help="drive, e.g. sda (when it has several)")
    p.add_argument("--force", action="store_true", help="even if the guest locked the tray")

    p = verb("insert", "Insert an ISO in a VM's CD/DVD drive (replacing a disc that is there).")
    p.add_argument("name")
    p.add_argument("iso", metavar="ISO", help="path of the .iso on the server host")
    p.add_argument("--target", metavar="DEV", help="drive, e.g. sda (when it has several)")

    p = verb("snapshot", "Internal snapshots: list, create, revert to, delete.")
    p.add_argument("action", choices=SNAPSHOT_ACTIONS, metavar="{list,create,revert,delete}")
    p.add_argument("name")
    p.add_argument("snapshot", nargs="?", metavar="SNAPSHOT")
    p.add_argument("--description", metavar="TEXT", help="(create) what this snapshot is")

    p = verb("clone", "Copy a shut-off VM: every disk, a new name, UUID and MAC.")
    p.add_argument("name")
    p.add_argument("new_name", metavar="NEW_NAME")

    p = verb("edit", "Change memory, vCPUs, autostart; add or grow a disk.")
    p.add_argument("name")
    p.add_argument("--memory", metavar="SIZE", help="e.g. 2G")
    p.add_argument("--cpus", type=int, metavar="N")
    p.add_argument("--autostart", choices=("on", "off"), help="start with the host")
    p.add_argument("--add-disk", dest="add_disk", metavar="SIZE", help="a new disk, e.g. 10G")
    p.add_argument(
        "--grow", nargs=2, metavar=("DISK", "SIZE"), help="grow a disk, e.g. --grow vda 20G"
    )

    p = verb("disks", "Every disk image, the VM using it, orphans and totals.")
    p.add_argument(
        "--delete", nargs="+", metavar="DISK", help="delete these orphan disks (name or path)"
    )

    p = verb("catalog", "Install media libosinfo knows (OS, version, arch, URL).")
    p.add_argument("query", nargs="*", metavar="QUERY")

    p = verb("download", "Download an OS's installer ISO into the ISO folder.")
    p.add_argument("os", metavar="OS", help="short id from `vm catalog`, e.g. fedora37")
    p.add_argument("--arch", help="architecture (default x86_64)")
    p.add_argument("--media", type=int, metavar="N", help="which of the OS's media (its index)")
    p.add_argument("--sha256", metavar="HEX", help="expected checksum (verified, else removed)")


def run_manage(args: argparse.Namespace, backend: Any, error: Callable[[str], Exception]) -> Any:
    """The answer of a manage verb (None when *args* is not one)."""
    verb = args.vm_command
    if verb in ("eject", "insert"):
        opts: dict[str, Any] = {}
        if args.target:
            opts["target"] = args.target
        if verb == "eject" and args.force:
            opts["force"] = True
        if verb == "insert":
            opts["iso"] = args.iso
        return backend.media(args.name, verb, opts)
    if verb == "snapshot":
        if args.action != "list" and not args.snapshot:
            raise error(f"`vm snapshot {args.action} {args.name} SNAPSHOT`: name the snapshot.")
        opts = {"description": args.description} if args.description else {}
        return backend.snapshot(args.name, args.action, args.snapshot, opts)
    if verb == "clone":
        return backend.clone(args.name, args.new_name)
    if verb == "edit":
        changes: dict[str, Any] = {}
        for key in ("memory", "cpus", "autostart", "add_disk"):
            if getattr(args, key) is not None:
                changes[key] = getattr(args, key)
        if args.grow:
            changes["grow"] = {"disk": args.grow[0], "size": args.grow[1]}
        if not changes:
            raise error(
                f"`vm edit {args.name}`: nothing to change; pass --memory, --cpus, "
                "--autostart, --add-disk or --grow."
            )
        return backend.edit(args.name, changes)
    if verb == "disks":
        return backend.delete_disks(args.delete) if args.delete else backend.disks()
    if verb == "catalog":
        return backend.catalog(" ".join(args.query) or None)
    if verb == "download":
        request: dict[str, Any] = {"os": args.os}
        for key, value in (("arch", args.arch), ("index", args.media), ("sha256", args.sha256)):
            if value is not None:
                request[key] = value
        return backend.download(request)
    return None


# ------------------------------------------------------------------ output


def bar_text(done: int, total: int | None, width: int = 30) -> str:
    """``[######........]  30%  8M/27M``; a byte count when the total is unknown."""
    if not total:
        return f"{human_size(done) if done else '0B'} downloaded"
    filled = width * min(done, total) // total
    bar = "#" * filled + "." * (width - filled)
    return f"[{bar}] {100 * done // total:3d}%  {human_size(done) or '0B'}/{human_size(total)}"


def _size(n: int | None) -> str:
    return human_size(n) if n else "-"


def _changes(data: dict[str, Any]) -> list[str]:
    lines = []
    for c in data.get("changes", []):
        before, after = c["before"], c["after"]
        if c["what"] == "memory" or (c["what"].startswith("disk") and before):
            text = f"{_size(before)} -> {_size(after)}"
        elif c["what"].startswith("disk"):
            text = f"new {_size(after['capacity'])} disk {after['path']}"
        elif c["what"] == "autostart":
            text = f"{'on' if before else 'off'} -> {'on' if after else 'off'}"
        else:
            text = f"{before} -> {after}"
        note = f" — {c['note']}" if c.get("note") else ""
        lines.append(f"  {c['what']}: {text}, applies {c['applies']}{note}")
    return lines


def format_manage(verb: str, data: Any, prog: str, info_text: Callable[[Any], str]) -> str | None:
    """Text for a manage verb's answer (None when *verb* is not one)."""
    if verb in ("eject", "insert"):
        ch = data["media_change"]
        head = (
            f"Ejected {ch['before']} from {ch['target']} of {data['name']}"
            if verb == "eject"
            else f"Inserted {ch['after']} in {ch['target']} of {data['name']}"
        )
        when = "now and from the next boot" if ch.get("live") else "from the next boot"
        return f"{head} ({when})."
    if verb == "snapshot":
        if isinstance(data, list):
            if not data:
                return f"No snapshots. Take one with: {prog} snapshot create NAME SNAPSHOT"
            rows = [
                (s["name"], s["created"][:19].replace("T", " "), s["state"] or "-",
                 "*" if s["current"] else "", s.get("description") or "")
                for s in data
            ]  # fmt: skip
            return table(rows, ("SNAPSHOT", "TAKEN (UTC)", "VM STATE", "CURRENT", "DESCRIPTION"))
        if "reverted_to" in data:
            s = data["reverted_to"]
            when = s["created"][:19].replace("T", " ")
            state = data["state"]
            return f"Reverted {data['name']} to snapshot {s['name']} ({when}); it is {state}."
        if "deleted_snapshot" in data:
            left = len(data["snapshots"])
            gone = data["deleted_snapshot"]["name"]
            return f"Deleted snapshot {gone} of {data['name']} ({left} left)."
        when = data["created"][:19].replace("T", " ")
        return f"Took snapshot {data['name']} (VM {data['state']}, {when} UTC)."
    if verb == "clone":
        lines = [f"Cloned {data['clone']['source']} as {data['name']}."]
        lines += [f"  copied {c['from']} -> {c['to']}" for c in data["clone"]["copied"]]
        return "\n".join([*lines, info_text(data)])
    if verb == "edit":
        return "\n".join([f"Changed {data['name']}:", *_changes(data)])
    if verb == "disks":
        return _format_disks(data, prog)
    if verb == "catalog":
        if not data:
            return f"No media match. Try fewer words, or: {prog} catalog"
        rows = [(m["os"], str(m["index"]), m["arch"], m["version"] or "-", m["url"]) for m in data]
        return table(rows, ("OS", "MEDIA", "ARCH", "VERSION", "URL"))
    if verb == "download":
        verb_done = "Already had" if data.get("already_there") else "Downloaded"
        checked = ", ".join(data.get("checked") or []) or "nothing to check against"
        return (
            f"{verb_done} {data['path']} ({_size(data['size'])}; checked: {checked}).\n"
            f"Create a VM from it with: {prog} create NAME --iso {data['path']}"
        )
    return None


def _format_disks(data: dict[str, Any], prog: str) -> str:
    if "removed" in data:
        lines = [f"Deleted {r['path']} ({_size(r['allocation'])} on disk)" for r in data["removed"]]
        return "\n".join([*lines, f"Freed {data['freed_human']}."])
    rows = [
        (d["name"], _size(d["allocation"]), _size(d["capacity"]),
         ", ".join(d["vms"]) if d["vms"] else "(orphan)")
        for d in data["disks"]
    ]  # fmt: skip
    t = data["totals"]
    lines = [
        table(rows, ("DISK", "ON DISK", "CAPACITY", "USED BY")) if rows else "No disks.",
        f"{t['count']} disk(s), {human_size(t['allocation'] or 0)} on disk; "
        f"{t['orphans']} orphan(s) using {human_size(t['orphan_allocation'] or 0)}; "
        f"{_size(data.get('available'))} free in pool {data.get('pool')} "
        f"({data.get('pool_path')}).",
    ]
    if t["orphans"]:
        lines.append(f"Delete an orphan with: {prog} disks --delete DISK")
    return "\n".join(lines)
