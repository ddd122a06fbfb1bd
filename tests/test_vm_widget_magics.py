"""``%vm manager`` and ``%vm new`` through a real IPython shell and a real server;
``kernelswitch vm manager|new`` in a shell, where no widget can show."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.jupyter import RunningServer, jupyter_server
from support.shell import kernelswitch_shell

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("vm-widget-magics")
    with jupyter_server(root, extra_args=[f"--KernelSwitchApp.env_roots={root}"]) as srv:
        yield srv


@pytest.fixture
def ip(server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    return kernelswitch_shell(server, monkeypatch)


def test_vm_manager_and_new_return_the_widgets(ip, server: RunningServer) -> None:
    from kernelswitch.widgets import CreateVM, VMManager

    manager = ip.run_line_magic("vm", "manager")
    assert isinstance(manager, VMManager) and manager._view == "vm-manager"
    listed = ip.run_line_magic("vm", "manager --json")
    assert [v["name"] for v in listed] == [v["name"] for v in server.api("vms")["vms"]]  # type: ignore[index]

    form = ip.run_line_magic("vm", "new my-vm --iso /srv/isos/fedora.iso")
    assert isinstance(form, CreateVM)
    assert (form.name, form.iso, form.os, form.status) == (
        "my-vm",
        "/srv/isos/fedora.iso",
        "",
        "editing",
    )
    assert ip.run_line_magic("vm", "new").name == ""


def test_cli_names_the_magic_and_the_one_line_command(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "kernelswitch.cli", "vm", "new", "web", "--iso", "/x.iso"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "`%vm new`" in out.stdout
    assert "`kernelswitch vm create web --iso /x.iso`" in out.stdout
