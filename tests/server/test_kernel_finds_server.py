"""A kernel's magics talk to the server that launched it, even with others running."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from jupyter_client import BlockingKernelClient
from support.jupyter import RunningServer, jupyter_server

pytestmark = __import__("pytest").mark.server


def _post(server: RunningServer, path: str, body: dict) -> dict:
    req = urllib.request.Request(
        f"{server.url}{path}", data=json.dumps(body).encode(), method="POST"
    )
    req.add_header("Authorization", f"token {server.token}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def test_magic_reaches_its_own_server(tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    env = {"JUPYTER_RUNTIME_DIR": str(runtime), "KERNELSWITCH_URL": ""}
    with ExitStack() as stack:
        servers = []
        for name in ("first", "second"):
            root = tmp_path / name
            root.mkdir()
            subprocess.run(
                [sys.executable, "-m", "venv", "--without-pip", str(root / f"env-{name}")],
                check=True,
            )
            servers.append(
                stack.enter_context(
                    jupyter_server(
                        root, env=env, extra_args=[f"--KernelSwitchApp.env_roots={root}"]
                    )
                )
            )
        # whichever order the runtime dir lists them in, each kernel must see
        # the envs of the server that launched it
        for name, server in zip(("first", "second"), servers, strict=True):
            assert _envs_seen_by_a_kernel_of(server, runtime) == f"['env-{name}']"


def _envs_seen_by_a_kernel_of(server: RunningServer, runtime: Path) -> str:
    kernel = _post(server, "api/kernels", {"name": "python3"})
    conn_file = runtime / f"kernel-{kernel['id']}.json"
    for _ in range(100):
        if conn_file.exists():
            break
        time.sleep(0.1)
    client = BlockingKernelClient(connection_file=str(conn_file))
    client.load_connection_file()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        reply = client.execute_interactive(
            "%load_ext kernelswitch\n"
            "_envs = %pyenv list --json\n"
            "_names = sorted(e['name'] for e in _envs['envs'] if e['name'].startswith('env-'))",
            user_expressions={"names": "_names"},
            timeout=60,
        )
    finally:
        client.stop_channels()
    return str(reply["content"]["user_expressions"]["names"]["data"]["text/plain"])
