"""``kernelswitch vm ...``: the kernel side's ``vm`` grammar run against libvirt directly.

The grammar, the run logic and the text output are shared with ``%vm``
(:mod:`kernelswitch.kernelside.vm_grammar`); only the backend differs: here a
:class:`~kernelswitch.vm.manager.VMManager` instead of the REST API.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .._common import RUN_ACTIONS
from ..errors import KernelSwitchError
from ..kernelside.vm_grammar import OSList, add_verbs, for_prog, format_human, parser_class, run
from ..kernelside.vm_manage_grammar import bar_text
from . import vm_watch

PROG = "kernelswitch vm"
#: (a name: the ``list`` method shadows the builtin inside the class body)
MediaList = list[dict[str, Any]]
Names = list[str]


class LocalBackend:
    """Talks to libvirt directly (the CLI)."""

    def __init__(self, manager: Any = None, *, progress: Any = None) -> None:
        if manager is None:
            from ..vm.manager import VMManager

            manager = VMManager()
        self.manager = manager
        self.progress = progress

    def on_host(self, host: str) -> LocalBackend:
        """VMs on *host*: a libvirt URI, or the alias of one configured for the server."""
        from ..vm.hosts.refs import find_host
        from ..vm.manager import VMManager
        from .doctor_hosts import configured_uris

        uri = host if "://" in host else find_host(configured_uris(None), host)
        return LocalBackend(VMManager(uri), progress=self.progress)

    def list(self) -> list[dict[str, Any]]:
        return self.manager.list()

    def info(self, name: str) -> dict[str, Any]:
        return self.manager.info(name)

    def create(self, request: dict[str, Any]) -> dict[str, Any]:
        request = {k: v for k, v in request.items() if k != "uri"}  # on_host chose it
        if request.get("shares"):
            self._local_only("shared folders", "shares")
        from .vm_upload import needs_upload, upload_then_create

        if needs_upload(self.manager, request.get("iso")):
            what = f"uploading {Path(request['iso']).name} to {self.manager.alias}"
            bar = _ProgressBar(what) if self.progress is not None else None
            try:
                return upload_then_create(self.manager, request, bar, self.progress)
            finally:
                if bar is not None:
                    bar.close()
        return self.manager.create(**request, progress=self.progress)

    def action(self, name: str, action: str, options: dict[str, Any]) -> dict[str, Any]:
        if action not in RUN_ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        return getattr(self.manager, action)(name, **options)

    def delete(self, name: str, disks: bool, force: bool) -> dict[str, Any]:
        return self.manager.delete(name, disks=disks, force=force)

    def oses(self, query: str | None) -> OSList:
        from ..vm.osinfo import list_oses

        return [o.to_summary() for o in list_oses(query)]

    # -- reach verbs (same answers as the REST API's)

    def _local_only(self, what: str, field: str | None = None) -> None:
        """Shares and forwards are the server's host's: refused on a remote one, as REST does."""
        from ..vm.hosts.local_only import refuse_remote

        refuse_remote(self.manager, what, field)

    def shares(self, name: str) -> MediaList:
        return self.manager.shares(name)

    def share(self, name: str, request: dict[str, Any]) -> dict[str, Any]:
        self._local_only("shared folders")
        return self.manager.share(name, request["dir"], request.get("tag"),
                                  bool(request.get("readonly")))  # fmt: skip

    def unshare(self, name: str, tag: str) -> dict[str, Any]:
        self._local_only("shared folders")
        return self.manager.unshare(name, tag)

    def forwards(self, name: str) -> dict[str, Any]:
        return self.manager.forwards(name)

    def forward(self, name: str, request: dict[str, Any]) -> dict[str, Any]:
        self._local_only("port forwards")
        return self.manager.forward(name, request["host_port"], request["guest_port"],
                                    request["proto"], request["host_addr"])  # fmt: skip

    def unforward(self, name: str, port: int, proto: str) -> dict[str, Any]:
        self._local_only("port forwards")
        return self.manager.unforward(name, port, proto)

    # -- manage verbs (same answers as the REST API's)

    def media(self, name: str, action: str, options: dict[str, Any]) -> dict[str, Any]:
        if action == "eject":
            return self.manager.eject(name, **options)
        return self.manager.insert(name, **options)

    def snapshot(self, name: str, action: str, snap: str | None, options: dict[str, Any]) -> Any:
        if action == "list" or snap is None:
            return self.manager.snapshots(name)
        if action == "create":
            return self.manager.snapshot_create(name, snap, options.get("description"))
        if action == "revert":
            return self.manager.snapshot_revert(name, snap)
        return self.manager.snapshot_delete(name, snap)

    def clone(self, name: str, new_name: str) -> dict[str, Any]:
        return self.manager.clone(name, new_name, progress=self.progress)

    def edit(self, name: str, changes: dict[str, Any]) -> dict[str, Any]:
        return self.manager.edit(name, **changes)

    def disks(self) -> dict[str, Any]:
        return self.manager.disks()

    def delete_disks(self, disks: Names) -> dict[str, Any]:
        return self.manager.delete_disks(disks)

    def catalog(self, query: str | None) -> MediaList:
        return self.manager.catalog(query)

    def download(self, request: dict[str, Any]) -> dict[str, Any]:
        bar = _ProgressBar() if self.progress is not None else None
        try:
            return self.manager.download(**request, progress=bar)
        finally:
            if bar is not None:
                bar.close()


class _ProgressBar:
    """``[#######.......]  45%  12.0M/27.0M`` on stderr, redrawn at most ~10 times a second
    (after *label* when given)."""

    WIDTH = 30

    def __init__(self, label: str = "") -> None:
        import time

        self._label = f"{label} " if label else ""
        self._clock = time.monotonic
        self._last = 0.0
        self._drawn = False

    def __call__(self, done: int, total: int | None) -> None:
        now = self._clock()
        if now - self._last < 0.1 and done != total:
            return
        self._last = now
        text = bar_text(done, total, self.WIDTH)
        print(f"\r{self._label}{text}", end="", file=sys.stderr, flush=True)
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            print(file=sys.stderr)
            self._drawn = False


def register(subparsers: Any) -> None:
    """Add ``vm`` to the ``kernelswitch`` command line."""
    p = subparsers.add_parser("vm", help="create and run virtual machines")
    # The top-level parser made `p` a plain ArgumentParser; the vm grammar's class
    # (same state, better one-line errors: did-you-mean, the verb's usage) takes over.
    p.__class__ = parser_class(raise_errors=False)
    sub = p.add_subparsers(dest="vm_command", metavar="ACTION")
    sub.required = True
    add_verbs(sub)
    vm_watch.add_parser(sub)  # CLI only: a magic must not block its kernel
    p.set_defaults(func=_cli_main)


def _cli_main(args: argparse.Namespace) -> int:
    if args.vm_command == "watch":
        return vm_watch.main(args)
    progress = None if args.json else (lambda msg: print(f"... {msg}", file=sys.stderr))
    try:
        result = run(args, LocalBackend(progress=progress))
    except KernelSwitchError as e:
        e.message = for_prog(e.message, PROG)  # hints as typed: `kernelswitch vm ...`
        raise
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(format_human(result))
    return 0
