"""An IPython shell whose kernelswitch magics talk to a given server."""

from __future__ import annotations

from typing import Any

import pytest

from .jupyter import RunningServer


def kernelswitch_shell(server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The process's InteractiveShell with ``%load_ext kernelswitch`` done, pointed
    at ``server`` the way a kernel the server launched is (KERNELSWITCH_URL/TOKEN)."""
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.setenv("KERNELSWITCH_URL", server.url)
    monkeypatch.setenv("KERNELSWITCH_TOKEN", server.token)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "kernelswitch")
    return shell
