"""The candidate kernel's life outside the swap: readiness, why it died,
discarding it, and retiring the old kernel after a switch."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import queue
import time
from typing import Any

from ._launch import LaunchTarget
from .errors import CandidateExited, CandidateTimeout, IpykernelImportFailed
from .provisioner import KernelSwitchProvisioner

#: How long the old kernel gets to shut down politely before it is killed.
RETIRE_GRACE = 3.0
#: Seconds between two kernel_info requests to a candidate that has not answered.
ASK_AGAIN = 1.0


async def wait_ready(
    cand: Any, prov: KernelSwitchProvisioner, target: LaunchTarget, timeout: float
) -> dict[str, Any]:
    """The candidate's ``kernel_info_reply`` content, or why there is none."""
    # the manager's zmq context: a client's own one starts an I/O thread and
    # joins it in stop_channels(), ms on the event loop per switch
    client = cand.client(context=cand.context)
    await asyncio.sleep(0)  # short loop steps: see Switcher._start_candidate
    client.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
    try:
        # asked again every second, as jupyter_client's wait_for_ready does: a
        # request that reaches a kernel still starting up can go unanswered
        sent = {client.kernel_info()}
        deadline = time.monotonic() + timeout
        resend_at = time.monotonic() + ASK_AGAIN
        while True:
            try:
                reply = await client.get_shell_msg(timeout=0.05)
            except queue.Empty:
                if time.monotonic() > resend_at:
                    sent.add(client.kernel_info())
                    resend_at = time.monotonic() + ASK_AGAIN
                code = await prov.poll()
                if code is not None:
                    await asyncio.sleep(0.05)  # let the stderr pump catch the last lines
                    raise _exited(target, code, prov.stderr_tail()) from None
                if time.monotonic() > deadline:
                    raise CandidateTimeout(
                        f"the kernel in {target.prefix} did not answer within {timeout:g} s; "
                        "the old kernel keeps running. Check that its ipykernel works: "
                        f"`{target.executable} -m ipykernel_launcher --help`",
                        details={"path": target.prefix},
                    ) from None
                continue
            if reply.get("parent_header", {}).get("msg_id") in sent:
                content: dict[str, Any] = reply["content"]
                return content
    finally:
        client.stop_channels()


def _exited(target: LaunchTarget, code: int, tail: str) -> CandidateExited:
    last = "\n".join(tail.strip().splitlines()[-6:])
    if "ipykernel" in tail and ("ImportError" in tail or "ModuleNotFoundError" in tail):
        return IpykernelImportFailed(
            f"ipykernel fails to import in {target.prefix}, so the old kernel keeps running; "
            f"reinstall it: `{target.executable} -m pip install --force-reinstall ipykernel`"
            f"\n{last}",
            details={"path": target.prefix, "exit_code": code},
        )
    return CandidateExited(
        f"the kernel in {target.prefix} exited with code {code} before it was ready, so the "
        f"old kernel keeps running; run `{target.executable} -m ipykernel_launcher --help` "
        f"to see why{':' if last else ''}\n{last}".rstrip(),
        details={"path": target.prefix, "exit_code": code},
    )


async def discard(cand: Any) -> None:
    """Stop a candidate that will not be used (no polite shutdown needed)."""
    with contextlib.suppress(Exception):
        await cand.shutdown_kernel(now=True)
    await asyncio.sleep(0)  # short loop steps: see Switcher._start_candidate
    with contextlib.suppress(Exception):
        done = cand.cleanup_resources()
        if inspect.isawaitable(done):  # AsyncKernelManager's is a coroutine
            await done


async def retire(prov: Any, control: Any, conn_file: str, session: Any) -> None:
    """Ask the old kernel to shut down, kill it if it will not, tidy its files."""
    try:
        if control is not None and prov is not None and await prov.poll() is None:
            with contextlib.suppress(Exception):
                session.send(control, session.msg("shutdown_request", {"restart": False}))
            deadline = time.monotonic() + RETIRE_GRACE
            while await prov.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if await prov.poll() is None:
                await prov.kill()
                await prov.wait()
        elif prov is not None:
            with contextlib.suppress(Exception):
                await prov.wait()
        if prov is not None:
            with contextlib.suppress(Exception):
                await prov.cleanup(restart=False)
    finally:
        if control is not None:
            control.close(linger=0)
        if conn_file:
            with contextlib.suppress(OSError):
                os.remove(conn_file)
