"""Installing ipykernel into an env, after the user saw the exact command."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import quote

import pytest
from support.jupyter import RunningServer
from support.venvs import make_venv

from ._client import Notebook, rest

pytestmark = pytest.mark.server


def test_install_ipykernel_then_switch(server: RunningServer, tmp_path: Path) -> None:
    env = make_venv(tmp_path / "bare-env")  # no pip inside: the server's pip is used

    async def scenario() -> None:
        path = "kernelswitch/api/envs/install-ipykernel"
        code, plan = await rest(server.url, server.token, "GET", f"{path}?target={quote(str(env))}")
        assert code == 200, plan
        assert plan["command"][-1] == "ipykernel" and str(env / "bin" / "python") in plan["command"]
        assert plan["target"]["has_ipykernel"] is False
        code, body = await rest(server.url, server.token, "POST", path, {"target": str(env)})
        assert code == 400, body  # not confirmed: nothing runs
        nb = await Notebook.open(server.url, server.token)
        try:
            await nb.run("%load_ext kernelswitch")
            out = await nb.run(f"%pyenv install-ipykernel {env}")
            assert "this would run:" in out and "--yes" in out, nb.stderr
            assert not list((env / "lib").glob("python*/site-packages/ipykernel"))
            out = await nb.run(f"%pyenv install-ipykernel {env} --yes", timeout=600)
            assert "running: " in out and "is now native" in out, (out, nb.stderr)
            code, ans = await nb.switch(str(env))
            assert code == 200 and ans["env"]["mode"] == "native", ans
            assert await nb.value("__import__('sys').prefix") == str(env)
        finally:
            await nb.close()

    asyncio.run(scenario())
