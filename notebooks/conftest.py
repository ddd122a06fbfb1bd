"""nbval runs the demo notebooks against a real kernelswitch server.

nbval starts each notebook's kernel while setting up the file, before any
fixture; so the server is started from a ``tryfirst`` setup hook and handed
to the kernel through KERNELSWITCH_URL / KERNELSWITCH_TOKEN.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import urllib.error
import urllib.request
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
    # the demo boots a VM from the test OS, as `./dev demo` does; a name of its
    # own, removed with its disk when the run ends
    from kernelswitch._paths import testos_dir

    iso = testos_dir() / "testos-fedora.iso"
    if not iso.is_file():
        pytest.fail(f"test OS image missing: {iso}; build it with `bash scripts/build-testos.sh`")
    os.environ["KERNELSWITCH_DEMO_ISO"] = str(iso)
    os.environ["KERNELSWITCH_DEMO_VM"] = f"kstest-demo-{secrets.token_hex(3)}"
    _stack.callback(_delete_demo_vm, server.url, server.token)


def _delete_demo_vm(url: str, token: str) -> None:
    name = os.environ["KERNELSWITCH_DEMO_VM"]
    req = urllib.request.Request(
        f"{url}kernelswitch/api/vms/{name}?disks=true&force=true", method="DELETE",
        headers={"Authorization": f"token {token}"},
    )
    try:
        urllib.request.urlopen(req, timeout=120).close()
    except urllib.error.HTTPError as e:
        if e.code != 404:  # 404: the notebook never made it
            raise


def pytest_sessionfinish(session: pytest.Session) -> None:
    _stack.close()
