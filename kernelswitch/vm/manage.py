"""``VMManager``'s "manage" verbs: media, snapshots, clone, edit, disks, ISO catalogue.

Public API (stable), as methods of :class:`~.manager.VMManager` (blocking, like
the rest of it; errors are the :mod:`.errors` tree):

- ``eject(name, target=None, force=False)``, ``insert(name, iso, target=None)``
- ``snapshots(name)``, ``snapshot_create(name, snapshot, description=None)``,
  ``snapshot_revert(name, snapshot)``, ``snapshot_delete(name, snapshot)``
- ``clone(name, new_name, progress=None)``
- ``edit(name, memory=None, cpus=None, autostart=None, add_disk=None, grow=None)``
- ``disks()``, ``delete_disks(disks)``
- ``catalog(query=None)``, ``download(os, arch=None, sha256=None, progress=None)``
- ``preview_file(name) -> Path`` — where the VM's console preview PNG is kept,
  whether or not one exists yet (``info()['preview_path']`` names it only once
  it exists).

Why a mixin of delegations: each concern lives in its own module (one per
file, as virtinst keeps one device per file); the manager only gains names.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Manage methods that act on one named VM (the fleet routes them to its owner).
MANAGE_BY_NAME = (
    "eject", "insert", "snapshots", "snapshot_create", "snapshot_revert", "snapshot_delete",
    "clone", "edit", "preview_file",
)  # fmt: skip
#: Manage methods about the host's pool and media (the fleet sends them to its first URI).
MANAGE_POOL = ("disks", "delete_disks", "catalog", "download")


class ManageMixin:
    """Delegations from :class:`~.manager.VMManager` to the manage modules."""

    uri: str

    def eject(self, name: str, target: str | None = None, force: bool = False) -> dict[str, Any]:
        from .media import eject

        return eject(self, name, target, force)

    def insert(self, name: str, iso: str, target: str | None = None) -> dict[str, Any]:
        from .media import insert

        return insert(self, name, iso, target)

    def snapshots(self, name: str) -> list[dict[str, Any]]:
        from .snapshots import list_snapshots

        return list_snapshots(self, name)

    def snapshot_create(
        self, name: str, snapshot: str, description: str | None = None
    ) -> dict[str, Any]:
        from .snapshots import create

        return create(self, name, snapshot, description)

    def snapshot_revert(self, name: str, snapshot: str) -> dict[str, Any]:
        from .snapshots import revert

        return revert(self, name, snapshot)

    def snapshot_delete(self, name: str, snapshot: str) -> dict[str, Any]:
        from .snapshots import delete

        return delete(self, name, snapshot)

    def clone(
        self,
        name: str,
        new_name: str,
        progress: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        from .clone import clone

        return clone(self, name, new_name, progress=progress)

    def edit(self, name: str, **changes: Any) -> dict[str, Any]:
        from .edit import edit

        return edit(self, name, **changes)

    def disks(self) -> dict[str, Any]:
        from .disks import inventory

        return inventory(self)

    def delete_disks(self, disks: list[str]) -> dict[str, Any]:
        from .disks import delete_orphans

        return delete_orphans(self, disks)

    def catalog(self, query: str | None = None) -> list[dict[str, Any]]:
        from .catalog import catalog

        return catalog(query)

    def download(
        self,
        os: str,
        arch: str | None = None,
        index: int | None = None,
        sha256: str | None = None,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> dict[str, Any]:
        from .download import download

        return download(os, arch=arch, index=index, sha256=sha256, progress=progress)

    def preview_file(self, name: str) -> Path:
        from .manager import preview_dir

        info: dict[str, Any] = self.info(name)  # type: ignore[attr-defined]
        return preview_dir() / f"{info['uuid']}.png"

    def _runtime_info(
        self,
        dom: Any,
        state: str,
        parsed: dict[str, Any],
        guest_stats: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``vm info`` additions: uptime, CPU time, memory in use, serial log tail, autostart."""
        from .runtime import runtime_stats, serial_tail

        try:
            autostart = bool(dom.autostart()) if dom.isPersistent() else False
        except Exception:
            autostart = None
        from urllib.parse import urlsplit

        local = not urlsplit(self.uri).hostname  # qemu:///session, not qemu+ssh://host/...
        log = parsed.get("serial_log")
        return {
            **runtime_stats(dom, state, local, guest_stats),
            # a remote VM's log path is on its host: a local file of that name is another one
            "serial_tail": serial_tail(log) if local else [],
            "serial_host": None if local or not log else self.alias,  # type: ignore[attr-defined]
            "autostart": autostart,
        }
