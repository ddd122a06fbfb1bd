"""A switch that cannot succeed never harms the running kernel.

Broken targets each give their error code and the kernel keeps its state
and its process; two concurrent switches: one wins, the other gets 409; the
old kernel killed during a switch: the kernel ends up in the target and says so.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.jupyter import RunningServer, jupyter_server

from ._client import Notebook, rest

pytestmark = pytest.mark.server

PYENV = Path.home() / ".pyenv" / "versions"


def _pyenv_python(version: str) -> Path:
    exe = PYENV / version / "bin" / "python"
    assert exe.exists(), f"this test needs pyenv's Python {version} at {exe}"
    return exe


@pytest.fixture(scope="module")
def other_pythons(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 3.12 venv (another major.minor) and a 3.11.7 venv (another patch level)."""
    root = tmp_path_factory.mktemp("other-pythons")
    out = {}
    for name, version in (("py312", "3.12.1"), ("py3117", "3.11.7")):
        subprocess.run([_pyenv_python(version), "-m", "venv", "--without-pip",
                        str(root / name)], check=True)
        out[name] = root / name
    return out


async def _state(nb: Notebook) -> tuple[int, str]:
    got = await nb.value("[os.getpid(), y]")
    return got[0], got[1]


def test_broken_targets_keep_the_kernel(server: RunningServer, envs: dict[str, Path]) -> None:
    cases = [
        (str(envs["root"] / "no-such-env"), 404, "env_not_found"),
        (str(envs["root"] / "not-python.txt"), 422, "env_not_python"),
        (str(envs["dying"]), 502, "kernel_exited"),
        (str(envs["broken"]), 502, "ipykernel_import_failed"),
        ("no-such-name", 404, "env_not_found"),
    ]

    async def scenario() -> None:
        nb = await Notebook.open(server.url, server.token)
        try:
            await nb.run("import os; y = 'kept'")
            before = await _state(nb)
            env_before = (await nb.env())["env"]
            for target, status, code in cases:
                got, ans = await nb.switch(target, timeout=30)
                assert (got, ans["error"]["code"]) == (status, code), ans
                assert ans["ok"] is False
                assert ans["error"]["message"]
                assert ans["env"]["prefix"] == env_before["prefix"], ans
                assert await _state(nb) == before, f"state lost after {code}"
            # the exit is explained with what the interpreter printed
            _, ans = await nb.switch(str(envs["dying"]))
            assert "exited with code 3" in ans["error"]["message"]
            assert "I refuse to start" in ans["error"]["message"]
            assert nb.ws.close_code is None
        finally:
            await nb.close()

    asyncio.run(scenario())


def test_concurrent_switches_one_wins(server: RunningServer, envs: dict[str, Path]) -> None:
    async def scenario() -> None:
        nb = await Notebook.open(server.url, server.token)
        try:
            await nb.run("y = 1")
            first = asyncio.ensure_future(nb.switch(str(envs["overlay"])))
            while not (await nb.env())["env"]["switching"]:  # the first one is under way
                assert not first.done(), await first
                await asyncio.sleep(0.01)
            code, lost = await nb.switch(str(envs["native"]))
            assert (code, lost["error"]["code"]) == (409, "switch_busy"), lost
            assert lost["env"]["prefix"] != str(envs["native"])
            code, won = await first
            assert code == 200, won
            assert (await nb.env())["env"]["prefix"] == won["env"]["prefix"]
            assert await nb.value("__import__('sys').prefix") == won["env"]["prefix"]
        finally:
            await nb.close()

    asyncio.run(scenario())


def test_kernel_killed_during_switch(server: RunningServer, envs: dict[str, Path]) -> None:
    async def scenario() -> None:
        nb = await Notebook.open(server.url, server.token)
        try:
            old_pid = (await nb.env())["env"]["pid"]
            switch = asyncio.ensure_future(nb.switch(str(envs["native"])))
            await asyncio.sleep(0.2)  # the candidate is starting
            os.kill(old_pid, signal.SIGKILL)
            code, ans = await switch
            assert code == 200 and ans["ok"], ans
            now = (await nb.env())["env"]
            assert now["prefix"] == ans["env"]["prefix"] == str(envs["native"])
            assert now["pid"] != old_pid
            assert await nb.value("__import__('sys').prefix") == str(envs["native"])
        finally:
            await nb.close()

    asyncio.run(scenario())


def test_kernel_info_reports_the_new_python(server: RunningServer,
                                            other_pythons: dict[str, Path]) -> None:
    async def scenario() -> None:
        nb = await Notebook.open(server.url, server.token)
        try:
            code, ans = await nb.switch(str(other_pythons["py3117"]))
            assert code == 200, ans
            assert ans["env"]["mode"] == "overlay"
            reply, _ = await nb.request("kernel_info_request", {})
            assert reply["content"]["language_info"]["version"] == "3.11.7"
            # the other major.minor has no ipykernel: refused with the fix
            code, ans = await nb.switch(str(other_pythons["py312"]))
            assert (code, ans["error"]["code"]) == (422, "env_incompatible"), ans
            assert "pip install ipykernel" in ans["error"]["message"]
        finally:
            await nb.close()

    asyncio.run(scenario())


@pytest.fixture(scope="module")
def strict_server(envs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("strict-server")
    with jupyter_server(root, extra_args=["--KernelSwitchApp.version_policy=strict"]) as srv:
        yield srv


def test_strict_policy_refuses_another_major_minor(
    strict_server: RunningServer, envs: dict[str, Path], other_pythons: dict[str, Path]
) -> None:
    async def scenario() -> None:
        nb = await Notebook.open(strict_server.url, strict_server.token)
        try:
            await nb.run("import os; y = 'kept'")
            before = await _state(nb)
            code, ans = await nb.switch(str(other_pythons["py312"]))
            assert (code, ans["error"]["code"]) == (422, "version_policy"), ans
            assert "strict" in ans["error"]["message"]
            assert await _state(nb) == before
            # the same major.minor is fine under strict
            code, ans = await nb.switch(str(other_pythons["py3117"]))
            assert code == 200, ans
        finally:
            await nb.close()

    asyncio.run(scenario())


def test_bad_requests(server: RunningServer, tmp_path: Path) -> None:
    # a folder that merely holds a dump.json is not a carry folder: never removed
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "dump.json").write_text("{}")
    (precious / "thesis.tex").write_text("years of work")

    async def scenario() -> None:
        nb = await Notebook.open(server.url, server.token)
        try:
            code, ans = await rest(server.url, server.token, "POST",
                                   f"kernelswitch/api/kernels/{nb.kernel_id}/env",
                                   {"target": "system", "carry_from": str(precious)})
            assert code == 400 and "carry_from" in ans["error"]["message"], ans
            assert (precious / "thesis.tex").exists()
            for body in ({}, {"target": ""}, {"target": "x", "carry": "maybe"},
                         {"target": "x", "timeout": 0}, {"target": "x", "color": 1}):
                code, ans = await rest(server.url, server.token, "POST",
                                       f"kernelswitch/api/kernels/{nb.kernel_id}/env", body)
                assert code == 400 and ans["error"]["message"], (body, ans)
            code, ans = await rest(server.url, server.token, "GET",
                                   "kernelswitch/api/kernels/nope/env")
            assert (code, ans["error"]["code"]) == (404, "kernel_not_found")
        finally:
            await nb.close()

    asyncio.run(scenario())

