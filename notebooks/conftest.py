"""nbval runs the demo notebooks against a real kernelswitch server.

nbval starts each notebook's kernel while setting up the file, before any
fixture; so the server is started from a ``tryfirst`` setup hook and handed
to the kernel through KERNELSWITCH_URL / KERNELSWITCH_TOKEN.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import ExitStack
from pathlib import Path

import pytest

_stack = ExitStack()
_started = False


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    global _started
    if _started:
        return
    _started = True
    from support.jupyter import jupyter_server

    root = Path(_stack.enter_context(tempfile.TemporaryDirectory(prefix="ks-nb-")))
    server = _stack.enter_context(
        jupyter_server(root, extra_args=[f"--KernelSwitchApp.env_roots={root}"])
    )
    os.environ["KERNELSWITCH_URL"] = server.url
    os.environ["KERNELSWITCH_TOKEN"] = server.token


def pytest_sessionfinish(session: pytest.Session) -> None:
    _stack.close()
