"""pytest plugin: ONE booted test-OS guest shared by every console test of a session.

Registered in the repository's root conftest so tests/console and the
browser's console tests share the same guest (booting costs ~10 s of TCG).
Names and cleanup come from tests/vm/conftest.py (per-session prefix).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: The guest: the unidentified test ISO as a small Alpine-like machine.
CONSOLE_VM = {"os": "alpinelinux3.17", "memory": "256M", "disk": "1G", "cpus": 1}


@pytest.fixture(scope="session")
def console_vm() -> Iterator[dict[str, Any]]:
    """Info of a running test-OS guest (AC97 sound, USB tablet, VNC without a port)."""
    from vm.conftest import URI, unique_name, wait_serial

    from kernelswitch._paths import testos_dir
    from kernelswitch.vm.manager import VMManager

    iso = Path(os.environ.get("KERNELSWITCH_TESTOS_DIR") or testos_dir()) / "testos-plain.iso"
    if not iso.is_file():
        pytest.fail(f"test OS image missing: {iso}; build it with `bash scripts/build-testos.sh`")
    manager = VMManager(URI)
    name = unique_name("console")
    for attempt in range(3):
        try:
            info = manager.create(name, str(iso), **CONSOLE_VM)
            break
        except Exception as e:
            # the pool is shared with parallel test sessions: a refresh can collide
            # with another session's volume job; that is worth another try
            if "asynchronous jobs" not in str(e) or attempt == 2:
                raise
            time.sleep(2)
    try:
        wait_serial(info["serial_log"])
        yield info
    finally:
        try:
            manager.delete(name, disks=True, force=True)
        except Exception as e:  # the vm conftest's sweep is the last resort
            print(f"console_vm: could not delete {name}: {e}")


def serial_text(info: dict[str, Any]) -> str:
    try:
        return Path(info["serial_log"]).read_text(errors="replace")
    except OSError:
        return ""


_RESTART_MARK = "KS-TEST-BEFORE-RESTART"


def mark_stopped(info: dict[str, Any]) -> None:
    """Call with the VM stopped: a line QEMU's next start truncates away."""
    with open(info["serial_log"], "a") as fh:
        fh.write(f"{_RESTART_MARK}\n")


def wait_rebooted(info: dict[str, Any], timeout: float = 120.0) -> None:
    """After :func:`mark_stopped` and a start: the log was rewritten (QEMU
    truncates it on start) and the new boot reached the test OS's marker."""
    deadline = time.monotonic() + timeout
    while True:
        text = serial_text(info)
        if _RESTART_MARK not in text and "KERNELSWITCH-TESTOS-READY" in text:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the guest did not boot again within {timeout:g} s:\n{text[-1500:]}")
        time.sleep(0.25)
