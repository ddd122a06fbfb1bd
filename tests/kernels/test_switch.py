"""Switch a running kernel back and forth over one websocket that never closes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from support.jupyter import RunningServer

from ._client import Notebook
from .conftest import expected_python

pytestmark = pytest.mark.server

PROBE = ("{'exe': sys.executable, 'prefix': sys.prefix, 'venv': os.environ.get('VIRTUAL_ENV'),"
         " 'path': os.environ['PATH'], 'x': x}")


def test_back_and_forth_one_websocket(server: RunningServer, envs: dict[str, Path]) -> None:
    async def scenario() -> None:
        nb = await Notebook.open(server.url, server.token)
        try:
            await nb.run("import os, sys; x = 41")
            first = await nb.env()
            assert first["mode"] == "native"
            path_len: dict[str, int] = {}
            order = ["overlay", "native", "linked", "system", "overlay", "native", "system"]
            for name in order:
                target = envs[name]
                code, ans = await nb.switch(str(target))
                assert code == 200, ans
                assert ans["ok"] is True and ans["error"] is None
                await nb.run("import os, sys; x = 41")
                got = await nb.value(PROBE)
                assert got["exe"] == expected_python(target), (name, got)
                if name != "system":
                    assert got["prefix"] == str(target)
                    assert got["venv"] == str(target)
                else:
                    assert got["venv"] is None
                first_dir = got["path"].split(":")[0]
                assert first_dir == str(Path(expected_python(target)).parent)
                n = len(got["path"].split(":"))
                assert path_len.setdefault(name, n) == n, f"PATH grew in {name}"
                assert ans["env"]["mode"] == ("native" if name == "native" else "overlay")
                assert (await nb.env())["env"]["prefix"] == ans["env"]["prefix"]
            assert nb.ws.close_code is None, "the websocket closed"
        finally:
            await nb.close()

    asyncio.run(scenario())


def test_kernelswitch_kernelspec_is_switchable(server: RunningServer,
                                               envs: dict[str, Path]) -> None:
    async def scenario() -> None:
        nb = await Notebook.open(server.url, server.token, kernel_name="kernelswitch")
        try:
            code, ans = await nb.switch(str(envs["overlay"]))
            assert code == 200, ans
            assert await nb.value("__import__('sys').prefix") == str(envs["overlay"])
        finally:
            await nb.close()

    asyncio.run(scenario())


def test_another_envs_kernelspec_starts_in_that_env(server: RunningServer,
                                                     envs: dict[str, Path]) -> None:
    async def scenario() -> None:
        nb = await Notebook.open(server.url, server.token, kernel_name="venv-native")
        try:
            env = (await nb.env())["env"]
            assert (env["prefix"], env["mode"]) == (str(envs["native"]), "native")
            got = await nb.value("[__import__('sys').prefix, __import__('os').environ.get("
                                 "'VIRTUAL_ENV'), __import__('os').environ['PATH'].split(':')[0]]")
            assert got == [str(envs["native"])] * 2 + [str(envs["native"] / "bin")]
        finally:
            await nb.close()

    asyncio.run(scenario())


def test_restart_keeps_the_new_env(server: RunningServer, envs: dict[str, Path]) -> None:
    from ._client import rest

    async def scenario() -> None:
        nb = await Notebook.open(server.url, server.token)
        try:
            code, ans = await nb.switch(str(envs["overlay"]))
            assert code == 200, ans
            pid = ans["env"]["pid"]
            code, _ = await rest(server.url, server.token, "POST",
                                 f"api/kernels/{nb.kernel_id}/restart")
            assert code == 200
            env = (await nb.env())["env"]
            assert env["prefix"] == str(envs["overlay"]) and env["pid"] != pid
            # after a restart a front end opens a new websocket, as JupyterLab does
            nb.ws.close()
            nb = await Notebook.attach(server.url, server.token, nb.kernel_id)
            assert await nb.value("__import__('sys').prefix") == str(envs["overlay"])
        finally:
            await nb.close()

    asyncio.run(scenario())
