"""Start a real Jupyter server (lab or plain) in a subprocess for tests."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass
class RunningServer:
    url: str  # ends with '/'
    token: str
    proc: subprocess.Popen[bytes]
    log: Path

    def api(self, path: str) -> object:
        req = urllib.request.Request(f"{self.url}kernelswitch/api/{path}")
        req.add_header("Authorization", f"token {self.token}")
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def jupyter_server(
    root_dir: Path,
    *,
    app: str = "server",
    extra_args: list[str] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 90,
) -> Iterator[RunningServer]:
    """Run ``jupyter {app}`` on a free localhost port until the block ends."""
    port = free_port()
    token = secrets.token_hex(16)
    log = root_dir / f".jupyter-{app}-{port}.log"
    cmd = [
        sys.executable, "-m", "jupyter", app,
        "--no-browser", f"--port={port}", "--ip=127.0.0.1",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root_dir}",
        "--ServerApp.open_browser=False", "--allow-root",
        *(extra_args or []),
    ]  # fmt: skip
    full_env = {**os.environ, **(env or {})}
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=full_env)
    url = f"http://127.0.0.1:{port}/"
    server = RunningServer(url, token, proc, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter {app} exited:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}api", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"jupyter {app} did not answer in {timeout}s:\n{log.read_text()[-3000:]}"
                    ) from None
                time.sleep(0.3)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
