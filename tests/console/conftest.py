"""Console tests: the RFB engine against the shared test-OS guest (support/console_vm.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def wait_serial_line(info: dict[str, Any], needle: str, timeout: float = 30.0) -> str:
    """The serial log once *needle* appears after the typed command's echo."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = Path(info["serial_log"]).read_text(errors="replace")
        if needle in text:
            return text
        time.sleep(0.2)
    pytest.fail(f"{needle!r} not in the serial log after {timeout:g} s:\n{text[-1500:]}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.vm)
