"""``carry``: move the user's variables from the old kernel to the candidate.

The pickling runs inside the kernels (:mod:`kernelswitch.kernelside.carry`,
importable in every kernel kernelswitch launches): the old kernel dumps each
name on its own into a private temporary folder, the candidate loads each on
its own, and both write a report, so one bad object never costs the others
and the blobs never pass through the server's memory. cloudpickle is used
when the candidate has it (then the old kernel's blobs carry notebook-defined
classes by value), else pickle.

When the switch is asked from inside the old kernel (``%pyenv switch
--carry``), that kernel is busy running the magic, so the magic dumps itself
and passes the folder (``carry_from``).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from .._safe_read import read_regular
from .errors import SwitchError

_MOD = "__import__('kernelswitch.kernelside.carry', fromlist=['carry'])"
_HAS_CLOUDPICKLE = f"{_MOD}.has_cloudpickle()"


@dataclass
class CarryReport:
    """What moved: values (``carried``), modules imported again under the same
    name (``reimported``), and the rest with the reason (``not_carried``)."""

    carried: list[str] = field(default_factory=list)
    not_carried: dict[str, str] = field(default_factory=dict)
    reimported: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The switch answer's ``carry`` (the one vocabulary of issue 16)."""
        return {
            "carried": list(self.carried),
            "reimported": list(self.reimported),
            "not_carried": [{"name": n, "reason": r} for n, r in sorted(
                self.not_carried.items())],
        }


async def _run(client: Any, code: str, deadline: float, what: str) -> dict[str, Any]:
    """Execute ``code`` silently; the reply content, or a SwitchError."""
    msg_id = client.execute(code, silent=True, store_history=False,
                            user_expressions={"r": _HAS_CLOUDPICKLE})
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise SwitchError(f"carry: the {what} did not answer in time (is a cell running?)")
        try:
            reply = await client.get_shell_msg(timeout=min(left, 0.5))
        except queue.Empty:
            continue
        if reply["parent_header"].get("msg_id") != msg_id:
            continue
        content: dict[str, Any] = reply["content"]
        if content.get("status") != "ok":
            raise SwitchError(
                f"carry failed in the {what}: {content.get('ename')}: {content.get('evalue')}"
            )
        return content


def _has_cloudpickle(content: dict[str, Any]) -> bool:
    r = content.get("user_expressions", {}).get("r", {})
    return bool(r.get("status") == "ok" and r.get("data", {}).get("text/plain") == "True")


#: Most a carry report may weigh: names and reasons of the variables, not the values.
REPORT_LIMIT = 16 * 1024 * 1024


def _report(folder: str, name: str) -> Any:
    """A report the kernels wrote into *folder*. With ``carry_from`` the folder
    is the caller's: a FIFO or a link to ``/dev/zero`` there must neither block
    the server's event loop nor fill its memory, so only a regular file, no
    link, at most :data:`REPORT_LIMIT` bytes, is read."""
    path = os.path.join(folder, name)
    try:
        return json.loads(read_regular(path, REPORT_LIMIT, what="carry report", follow=False))
    except (OSError, ValueError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise SwitchError(f"carry: {why}; switch again without carry_from") from e


async def carry(old_client: Any, new_client: Any, timeout: float,
                carry_from: str | None = None) -> CarryReport:
    """Move the user namespace from ``old_client``'s kernel to ``new_client``'s
    (or from the folder ``carry_from`` the old kernel already dumped into)."""
    deadline = time.monotonic() + timeout
    folder = carry_from or tempfile.mkdtemp(prefix="kernelswitch-carry-")  # 0700: private
    try:
        if carry_from is None:
            probe = await _run(new_client, "pass", deadline, "new kernel")
            use_cp = _has_cloudpickle(probe)
            await _run(old_client, f"{_MOD}.dump({folder!r}, {use_cp!r})", deadline, "old kernel")
        await _run(new_client, f"{_MOD}.load({folder!r})", deadline, "new kernel")
        dump, load = _report(folder, "dump.json"), _report(folder, "load.json")
        report = CarryReport(carried=sorted(load["loaded"]),
                             reimported=sorted(load.get("reimported", [])))
        report.not_carried = {**dump["failed"], **load["failed"]}
        return report
    finally:
        shutil.rmtree(folder, ignore_errors=True)
