"""New environments (issue 20): made from an interpreter on the machine (a
pyenv build, the system Python) with ipykernel, listed within 2 s, switched
to at once; ``packages: current`` reproduces a small env's versions."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.jupyter import RunningServer, jupyter_server
from support.venvs import make_venv
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from kernelswitch.envs import resolve

from ._client import Notebook, rest

pytestmark = pytest.mark.server

PYENV_312 = Path("/root/.pyenv/versions/3.12.1/bin/python")
SYSTEM_PY = "/usr/bin/python3"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Path]]:
    root = tmp_path_factory.mktemp("create-envs")
    # a small env to copy: ipykernel and an older six
    small = make_venv(root / "small")
    pip = subprocess.run([sys.executable, "-m", "pip", "--python", str(small / "bin" / "python"),
                          "install", "-q", "ipykernel", "six==1.16.0"],
                         capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr
    with jupyter_server(tmp_path_factory.mktemp("create-server"), extra_args=[
        f"--KernelSwitchApp.env_roots={root}", "--KernelSwitchApp.env_depth=2",
    ]) as srv:  # fmt: skip
        yield srv, root


async def post_envs(srv: RunningServer, body: dict[str, Any]) -> tuple[int, list[dict]]:
    """``POST envs`` read as NDJSON: (status, lines)."""
    req = HTTPRequest(f"{srv.url}kernelswitch/api/envs", method="POST", body=json.dumps(body),
                      headers={"Authorization": f"token {srv.token}",
                               "Accept": "application/x-ndjson"}, request_timeout=900)
    resp = await AsyncHTTPClient().fetch(req, raise_error=False)
    text = resp.body.decode()
    if resp.code != 200:
        return resp.code, [json.loads(text)]
    return resp.code, [json.loads(ln) for ln in text.splitlines() if ln.strip()]


async def listed_within(srv: RunningServer, prefix: Path, seconds: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        code, data = await rest(srv.url, srv.token, "GET", "kernelswitch/api/envs")
        assert code == 200, data
        if any(e["prefix"] == str(prefix) for e in data["envs"]):
            return time.monotonic() - t0
        await asyncio.sleep(0.1)
    raise AssertionError(f"{prefix} not listed within {seconds} s")


def test_current_packages_from_the_system_python(made: tuple[RunningServer, Path]) -> None:
    srv, root = made

    async def scenario() -> None:
        nb = await Notebook.open(srv.url, srv.token)
        try:
            code, ans = await nb.switch(str(root / "small"))
            assert code == 200, ans
            new = root / "from-system"
            code, lines = await post_envs(srv, {"path": str(new), "python": SYSTEM_PY,
                                                "packages": "current", "kernel": nb.kernel_id})
            assert code == 200, lines
            kinds = [ln["type"] for ln in lines]
            assert kinds[0] == "step" and kinds.count("step") == 2 and "output" in kinds
            result = lines[-1]
            assert result["type"] == "result" and result["returncode"] == 0, lines[-5:]
            assert result["plan"]["python"]["executable"] == SYSTEM_PY
            await listed_within(srv, new, 2.0)
            small, made_env = resolve(str(root / "small")), resolve(str(new))
            assert made_env.packages["six"] == "1.16.0"
            want = {k: v for k, v in small.packages.items() if k not in ("pip", "setuptools")}
            got = {k: made_env.packages.get(k) for k in want}
            assert got == want
            assert result["env"]["mode"] == "native" and result["env"]["has_ipykernel"]
            # switched to at once: a cell runs there
            code, ans = await nb.switch(str(new))
            assert code == 200, ans
            got_py = await nb.value("[__import__('sys').prefix, list(__import__('sys')"
                                    ".version_info[:3]), __import__('six').__version__]")
            out = subprocess.run([SYSTEM_PY, "-c", "import sys; print(list(sys.version_info[:3]))"],
                                 capture_output=True, text=True).stdout
            assert got_py == [str(new), json.loads(out), "1.16.0"]
        finally:
            await nb.close()

    asyncio.run(scenario())


def test_magic_creates_from_a_pyenv_build_and_switches(made: tuple[RunningServer, Path]) -> None:
    srv, root = made
    assert PYENV_312.is_file(), "this machine's pyenv build 3.12.1 is missing"

    async def scenario() -> None:
        nb = await Notebook.open(srv.url, srv.token)
        try:
            await nb.run("%load_ext kernelswitch")
            new = root / "py312"
            out = await nb.run(f"%pyenv create {new} --python 3.12 --switch", timeout=900)
            assert f"made {new} (Python 3.12.1, native)" in out, (out[-2000:], nb.stderr)
            assert "[1/2]" in out and "[2/2]" in out and "Successfully installed" in out
            got = await nb.value("[__import__('sys').prefix, "
                                 "list(__import__('sys').version_info[:2])]")
            assert got == [str(new), [3, 12]]
            await listed_within(srv, new, 2.0)
        finally:
            await nb.close()

    asyncio.run(scenario())


def test_refusals(made: tuple[RunningServer, Path], tmp_path: Path) -> None:
    srv, root = made

    async def scenario() -> None:
        (root / "full").mkdir()
        (root / "full" / "f.txt").write_text("x")
        code, lines = await post_envs(srv, {"path": str(root / "full")})
        assert code == 409 and lines[0]["error"]["code"] == "env_exists"
        assert (root / "full" / "f.txt").read_text() == "x"
        code, lines = await post_envs(srv, {"path": str(tmp_path / "elsewhere")})
        assert code == 422 and lines[0]["error"]["code"] == "outside_roots"
        assert "add_root" in lines[0]["error"]["message"]
        assert not (tmp_path / "elsewhere").exists()
        code, plan = await rest(srv.url, srv.token, "POST", "kernelswitch/api/envs", {
            "path": str(tmp_path / "elsewhere"), "add_root": True, "dry_run": True,
            "python": "3.12"})
        assert code == 200 and plan["plan"]["python"]["version"] == "3.12.1", plan
        assert plan["plan"]["installs"] == ["ipykernel"]
        code, body = await rest(srv.url, srv.token, "POST", "kernelswitch/api/envs",
                                {"path": str(root / "new1"), "python": "3.99"})
        assert code == 404 and "no Python 3.99" in body["error"]["message"], body
        code, body = await rest(srv.url, srv.token, "POST", "kernelswitch/api/envs",
                                {"path": str(root / "new1"), "python": "2.7"})
        assert code == 400 and "pick a Python 3" in body["error"]["message"], body
        code, body = await rest(srv.url, srv.token, "POST", "kernelswitch/api/envs",
                                {"path": str(root / "new1"), "packages": "/nonexistent.txt"})
        assert code == 400 and "requirements file" in body["error"]["message"], body
        import shutil

        code, body = await rest(srv.url, srv.token, "POST", "kernelswitch/api/envs",
                                {"path": str(root / "new1"), "tool": "uv", "dry_run": True})
        if shutil.which("uv"):
            assert code == 200 and body["plan"]["tool"] == "uv"
        else:
            assert code == 400 and "uv is not installed" in body["error"]["message"], body
        assert not (root / "new1").exists()

    asyncio.run(scenario())


def test_interpreters_for_a_form(made: tuple[RunningServer, Path]) -> None:
    srv, _root = made

    async def scenario() -> None:
        code, data = await rest(srv.url, srv.token, "GET", "kernelswitch/api/envs/interpreters")
        assert code == 200, data
        by_exe = {i["executable"]: i for i in data["interpreters"]}
        assert by_exe[str(PYENV_312)] == {"executable": str(PYENV_312), "version": "3.12.1",
                                          "source": "pyenv"}
        assert by_exe[SYSTEM_PY]["source"] == "system"
        assert data["default_version"] and isinstance(data["uv"], bool)
        code, data = await rest(srv.url, srv.token, "GET",
                                "kernelswitch/api/envs/interpreters?kernel=nosuch")
        assert code == 404

    asyncio.run(scenario())


def test_a_failing_install_is_reported_and_the_folder_stays(
        made: tuple[RunningServer, Path]) -> None:
    srv, root = made

    async def scenario() -> None:
        req = root / "bad-requirements.txt"
        req.write_text("kernelswitch-no-such-distribution==0.0.1\n")
        new = root / "half-made"
        code, lines = await post_envs(srv, {"path": str(new), "python": SYSTEM_PY,
                                            "packages": str(req)})
        assert code == 200, lines
        result = lines[-1]
        assert result["type"] == "result" and result["returncode"] != 0, result
        assert "failed" in result["error"]["message"] and str(new) in result["error"]["message"]
        text = "".join(ln.get("text", "") for ln in lines)
        assert "kernelswitch-no-such-distribution" in text
        assert (new / "pyvenv.cfg").is_file()  # left as it is, as the message says
        # non-streamed: 502 with the output
        code, body = await rest(srv.url, srv.token, "POST", "kernelswitch/api/envs", {
            "path": str(root / "half-made-2"), "python": SYSTEM_PY, "packages": str(req)},
            timeout=900)
        assert code == 502 and body["error"]["code"] == "create_failed", body
        assert "kernelswitch-no-such-distribution" in body["output"]

    asyncio.run(scenario())
