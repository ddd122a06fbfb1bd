"""What the JupyterLab shell needs from the server (issue #17): one Python
kernel in the launcher, and every VM record naming its OS as a person reads it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.server
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def jp_server_config() -> dict:
    return {"ServerApp": {"jpserver_extensions": {"kernelswitch": True}}}


@pytest.fixture
def own_kernelspec(jp_data_dir: Path) -> None:
    """The spec `pip install` puts in share/jupyter/kernels (this test's data dir)."""
    shutil.copytree(REPO / "jupyter-config" / "kernels" / "kernelswitch",
                    jp_data_dir / "kernels" / "kernelswitch")


async def test_launcher_lists_one_python_kernel(
    own_kernelspec: None, jp_fetch, jp_serverapp
) -> None:
    """While every Python kernel is switchable, the kernelswitch spec is not
    listed (launcher, kernel chooser) but can still be started by name."""
    assert "kernelswitch" in jp_serverapp.kernel_spec_manager.find_kernel_specs()
    specs = json.loads((await jp_fetch("api", "kernelspecs")).body)["kernelspecs"]
    assert "python3" in specs
    assert "kernelswitch" not in specs
    # notebooks saved with it still open: the server finds it by name
    spec = jp_serverapp.kernel_spec_manager.get_kernel_spec("kernelswitch")
    assert spec.metadata["kernel_provisioner"]["provisioner_name"] == "kernelswitch-provisioner"


def test_own_spec_stays_when_it_is_the_only_python() -> None:
    from kernelswitch.server._kernelspecs import hide_own_kernelspec

    class Specs:
        def __init__(self, specs: dict) -> None:
            self.specs = specs

        def get_all_specs(self) -> dict:
            return self.specs

    only = Specs({"kernelswitch": {"spec": {"language": "python"}},
                  "ir": {"spec": {"language": "R"}}})
    hide_own_kernelspec(only)
    assert set(only.get_all_specs()) == {"kernelswitch", "ir"}
    two = Specs({"kernelswitch": {"spec": {"language": "python"}},
                 "python3": {"spec": {"language": "python"}}})
    hide_own_kernelspec(two)
    hide_own_kernelspec(two)  # twice is once
    assert set(two.get_all_specs()) == {"python3"}


def test_os_names_for_vm_records() -> None:
    from kernelswitch.vm.osinfo import UNKNOWN_OS_ID, get_os, os_name

    alpine = get_os("alpinelinux3.17")
    assert os_name(alpine.id) == "Alpine Linux 3.17"
    assert os_name(get_os("fedora37").id) == "Fedora Linux 37"
    assert os_name(None) is None
    assert os_name(UNKNOWN_OS_ID) == "Generic / unknown OS"
    # an id a newer osinfo-db wrote: the URL's last parts, as `%vm list` shows them
    assert os_name("http://fedoraproject.org/fedora/99") == "fedora/99"
