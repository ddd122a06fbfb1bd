"""``kernelswitch vm watch``: VM events as they happen, one line each.

The CLI's ``vm`` verbs drive libvirt directly (no server needed), so watch
does too: it runs the same :class:`~kernelswitch.hub.EventHub` the server's
events websocket runs, on the same URIs, and prints the same messages
(``--json``: one JSON object per line, exactly what the websocket sends).
The env list is not watched here (that is the server's env watcher).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from typing import Any


def add_parser(sub: Any) -> None:
    text = "Print VM events as they happen: state changes, new and deleted VMs, trays, hosts."
    p = sub.add_parser("watch", help=text, description=text)
    p.add_argument("--json", action="store_true", help="one JSON object per line (raw events)")
    p.add_argument("--uri", action="append", metavar="URI",
                   help="libvirt URI to watch (repeatable; default: $KERNELSWITCH_LIBVIRT_URI "
                   "or qemu:///session)")  # fmt: skip
    p.add_argument("--count", type=int, metavar="N",
                   help="exit after N events (the first snapshot is not counted)")  # fmt: skip


def main(args: argparse.Namespace) -> int:
    uris = args.uri or [os.environ.get("KERNELSWITCH_LIBVIRT_URI") or "qemu:///session"]
    try:
        asyncio.run(_watch(uris, args.json, args.count))
    except KeyboardInterrupt:
        pass
    return 0


async def _watch(uris: list[str], as_json: bool, count: int | None) -> None:
    from ..hub import EventHub, format_line
    from ..vm.fleet import VMFleet

    def emit(msg: dict[str, Any]) -> None:
        print(json.dumps(msg) if as_json else format_line(msg), flush=True)

    hub = EventHub(VMFleet(uris))
    await hub.start()
    sub = hub.subscribe()
    try:
        emit(await hub.snapshot())
        seen = 0
        while count is None or seen < count:
            msg = await sub.get()
            if msg is None:
                break
            emit(msg)
            seen += 1
    finally:
        hub.stop()
