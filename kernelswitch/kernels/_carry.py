"""``carry``: move the user's variables from the old kernel to the candidate.

The old kernel pickles each name of its user namespace on its own (cloudpickle
when both kernels have it, so classes and functions defined in the notebook
travel by value; else pickle), the candidate loads each on its own, and both
write a report, so one bad object never costs the others. The blobs go
through a private temporary folder, never through the server's memory.
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

from .errors import SwitchError

# Runs inside the old kernel, in a fresh namespace (nothing leaks into the
# user's); get_ipython is a builtin while IPython executes.
_DUMP = r"""
def _ks_dump(folder, use_cloudpickle):
    import json, os, pickle
    pk = pickle
    if use_cloudpickle:
        try:
            import cloudpickle as pk
        except ImportError:
            pk = pickle
    ip = get_ipython()
    hidden = set(ip.user_ns_hidden)
    blobs, failed = {}, {}
    for name, value in list(ip.user_ns.items()):
        if name.startswith("_") or name in hidden:
            continue
        try:
            blobs[name] = pk.dumps(value)
        except Exception as e:
            failed[name] = f"cannot be pickled: {type(e).__name__}: {e}"
    with open(os.path.join(folder, "blobs.pickle"), "wb") as f:
        pickle.dump(blobs, f)
    with open(os.path.join(folder, "dump.json"), "w") as f:
        json.dump({"failed": failed, "pickler": pk.__name__}, f)
_ks_dump(FOLDER, USE_CLOUDPICKLE)
"""

# Runs inside the candidate.
_LOAD = r"""
def _ks_load(folder):
    import json, os, pickle
    ip = get_ipython()
    with open(os.path.join(folder, "blobs.pickle"), "rb") as f:
        blobs = pickle.load(f)
    loaded, failed = [], {}
    for name, blob in blobs.items():
        try:
            ip.user_ns[name] = pickle.loads(blob)
            loaded.append(name)
        except Exception as e:
            failed[name] = f"cannot be loaded in the new env: {type(e).__name__}: {e}"
    with open(os.path.join(folder, "load.json"), "w") as f:
        json.dump({"loaded": loaded, "failed": failed}, f)
_ks_load(FOLDER)
"""

_HAS_CLOUDPICKLE = "__import__('importlib.util').util.find_spec('cloudpickle') is not None"


@dataclass
class CarryReport:
    carried: list[str] = field(default_factory=list)
    not_carried: dict[str, str] = field(default_factory=dict)


def _wrap(src: str, **values: str | bool) -> str:
    """``src`` run by exec in a namespace of its own, with ``values`` bound."""
    ns = ", ".join(f"{k!r}: {v!r}" for k, v in values.items())
    return f"exec({src!r}, {{{ns}}})"


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


async def carry(old_client: Any, new_client: Any, timeout: float) -> CarryReport:
    """Move the user namespace from ``old_client``'s kernel to ``new_client``'s."""
    deadline = time.monotonic() + timeout
    folder = tempfile.mkdtemp(prefix="kernelswitch-carry-")  # 0700: private
    try:
        probe = await _run(new_client, "pass", deadline, "new kernel")
        use_cp = _has_cloudpickle(probe)
        await _run(
            old_client, _wrap(_DUMP, FOLDER=folder, USE_CLOUDPICKLE=use_cp), deadline, "old kernel"
        )
        await _run(new_client, _wrap(_LOAD, FOLDER=folder), deadline, "new kernel")
        with open(os.path.join(folder, "dump.json")) as f:
            dump = json.load(f)
        with open(os.path.join(folder, "load.json")) as f:
            load = json.load(f)
        report = CarryReport(carried=sorted(load["loaded"]))
        report.not_carried = {**dump["failed"], **load["failed"]}
        return report
    finally:
        shutil.rmtree(folder, ignore_errors=True)
