"""One operation at a time per VM: a second waits briefly, then gets 409 vm_busy."""

from __future__ import annotations

import asyncio

import pytest

from kernelswitch.vm._oplock import OperationLocks
from kernelswitch.vm.errors import VMBusy


async def test_second_operation_waits_then_runs() -> None:
    locks = OperationLocks()
    order: list[str] = []

    async def op(name: str, tag: str, hold: float) -> None:
        async with locks.hold(name, tag, wait=5):
            order.append(f"{tag}+")
            await asyncio.sleep(hold)
            order.append(f"{tag}-")

    await asyncio.gather(op("vm1", "start", 0.2), op("vm1", "suspend", 0), op("vm2", "other", 0))
    # the other VM was not held up; the same VM's operations did not overlap
    assert order.index("other+") < order.index("start-")
    assert order.index("start-") < order.index("suspend+")
    assert locks.busy("vm1") is None


async def test_busy_vm_answers_409_naming_the_running_operation() -> None:
    locks = OperationLocks()
    entered = asyncio.Event()
    release = asyncio.Event()

    async def long_start() -> None:
        async with locks.hold("vm1", "start"):
            entered.set()
            await release.wait()

    task = asyncio.ensure_future(long_start())
    await entered.wait()
    with pytest.raises(VMBusy) as e:
        async with locks.hold("vm1", "delete", wait=0.1):
            pass
    release.set()
    await task
    assert e.value.http_status == 409 and e.value.code == "vm_busy"
    assert "start has been running" in e.value.message and "Try delete again" in e.value.message
    assert e.value.details == {"name": "vm1", "busy_with": "start"}
    async with locks.hold("vm1", "delete", wait=0):  # free again once the start ended
        assert locks.busy("vm1") == "delete"


async def test_a_request_may_take_its_own_vm_again() -> None:
    """Re-entrant per task: a handler's prepare holds the VM, its verb takes it again."""
    locks = OperationLocks()
    await locks.acquire("vm1", "snapshot")
    async with locks.hold("vm1", "snapshot", wait=0):
        assert locks.busy("vm1") == "snapshot"
    assert locks.busy("vm1") == "snapshot"  # still held by the outer acquire

    async def other() -> None:
        async with locks.hold("vm1", "start", wait=0.1):
            pass

    with pytest.raises(VMBusy):
        await asyncio.ensure_future(other())  # another task waits, then gets 409
    locks.release("vm1")
    assert locks.busy("vm1") is None
