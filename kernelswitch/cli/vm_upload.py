"""``kernelswitch vm create --host HOST --iso LOCAL.iso``: the ISO uploaded first,
with a progress bar, then the VM made from the uploaded copy.

Why not leave the upload to ``VMManager.create``: it uploads inside the create
and can only say "uploading: 35%" lines; an installer ISO is gigabytes over
SSH. Here the request is checked in full first (name, ISO, OS, sizes against
the host: nothing is uploaded for a create that would fail), the free space of
the host's pool is checked against the ISO's size, the upload draws the same
bar as ``vm download``, and the create then names the uploaded volume (an
identical ISO already there is reused, so a failed create never uploads again).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

#: ``(done, total)`` bytes -> a drawn bar
Bar = Callable[[int, int], None]


def needs_upload(manager: Any, iso: Any) -> bool:
    """Whether *iso* is a file here that *manager*'s (remote) host cannot read."""
    return bool(manager.remote) and isinstance(iso, str) and os.path.isfile(iso)


def upload_then_create(manager: Any, request: dict[str, Any], bar: Bar | None,
                       progress: Callable[[str], None] | None) -> dict[str, Any]:  # fmt: skip
    """Check *request*, upload its ISO to *manager*'s host, create the VM from there."""
    from ..vm.hosts.create import _local_user, remote_limits
    from ..vm.hosts.media import check_room_for, upload_iso
    from ..vm.spec import resolve_spec
    from ..vm.storage import is_no_space, pool_full

    existing = manager.names()  # an unreachable host says so here, before anything
    spec, os_info = resolve_spec(
        request["name"], request["iso"], request.get("os"), request.get("memory"),
        request.get("cpus"), request.get("disk"), request.get("start", True),
        existing_names=existing, limits=manager.connection.call(remote_limits),
        user=_local_user(), uri=manager.uri,
    )  # fmt: skip
    check_room_for(manager, os.path.getsize(spec.iso))
    say = progress or (lambda _m: None)
    # the bar shows the percentages; of the engine's lines only "already there" still goes out
    lines = say if bar is None else (lambda m: None if m.startswith("upload") else say(m))
    try:
        remote = upload_iso(manager.storage, spec.iso, lines, bar)
    except Exception as e:
        if is_no_space(e):
            raise pool_full(e, request["name"], manager.storage) from e
        raise
    finally:
        getattr(bar, "close", lambda: None)()  # the bar's line ends before the create's
    create = {**request, "iso": remote, "os": os_info.short_id}
    return dict(manager.create(**create, progress=progress))

