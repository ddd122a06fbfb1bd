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
    return _run_in_kernel(
        runtime, kernel["id"],
        "%load_ext kernelswitch\n"
        "_envs = %pyenv list --json\n"
        "_names = sorted(e['name'] for e in _envs['envs'] if e['name'].startswith('env-'))",
        "_names",
    )


def test_magics_work_on_a_password_only_server(tmp_path: Path) -> None:
    """A password-protected server has no token; its kernels still reach the API,
    and the credential they get opens kernelswitch's API only."""
    from http.cookiejar import CookieJar

    from jupyter_server.auth import passwd

    runtime = tmp_path / "runtime"
    root = tmp_path / "root"
    root.mkdir()
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "env-pw")],
                   check=True)
    args = [f"--PasswordIdentityProvider.hashed_password={passwd('s3cret-pw')}",
            "--PasswordIdentityProvider.token=", f"--KernelSwitchApp.env_roots={root}"]
    env = {"JUPYTER_RUNTIME_DIR": str(runtime), "KERNELSWITCH_URL": ""}
    with jupyter_server(root, env=env, extra_args=args) as server:
        jar = CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        with opener.open(f"{server.url}login", timeout=30):
            pass
        xsrf = next(c.value for c in jar if c.name == "_xsrf")
        form = f"password=s3cret-pw&_xsrf={xsrf}".encode()
        with opener.open(f"{server.url}login", data=form, timeout=30):
            pass
        req = urllib.request.Request(f"{server.url}api/kernels", data=b'{"name": "python3"}',
                                     method="POST", headers={"X-XSRFToken": xsrf})
        with opener.open(req, timeout=60) as r:
            kernel = json.loads(r.read())
        assert kernel["id"]
        out = _run_in_kernel(
            runtime, kernel["id"],
            "%load_ext kernelswitch\n"
            "_envs = %pyenv list --json\n"
            "import os, urllib.request, urllib.error\n"
            "_req = urllib.request.Request(os.environ['KERNELSWITCH_URL'] + 'api/contents',\n"
            "    headers={'Authorization': 'token ' + os.environ['KERNELSWITCH_TOKEN']})\n"
            "try:\n"
            "    urllib.request.urlopen(_req, timeout=30); _contents = 'open'\n"
            "except urllib.error.HTTPError as e:\n"
            "    _contents = e.code\n"
            "_out = ([e['name'] for e in _envs['envs'] if e['name'] == 'env-pw'], _contents)",
            "_out",
        )
    assert out == "(['env-pw'], 403)"


def _run_in_kernel(runtime: Path, kernel_id: str, code: str, expr: str) -> str:
    conn_file = runtime / f"kernel-{kernel_id}.json"
    for _ in range(100):
        if conn_file.exists():
            break
        time.sleep(0.1)
    client = BlockingKernelClient(connection_file=str(conn_file))
    client.load_connection_file()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        reply = client.execute_interactive(code, user_expressions={"v": expr}, timeout=60)
    finally:
        client.stop_channels()
    assert reply["content"]["status"] == "ok", reply["content"]
    return str(reply["content"]["user_expressions"]["v"]["data"]["text/plain"])
