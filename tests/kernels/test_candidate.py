"""Candidates pre-started on selection (issue 20): Apply swaps in the kernel
that was already running; what makes a waiting one wrong drops it."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.jupyter import RunningServer, jupyter_server

from ._client import Notebook, rest

pytestmark = pytest.mark.server


def _server(envs: dict[str, Path], tmp: Path, *args: str) -> Any:
    return jupyter_server(tmp, extra_args=[
        f"--KernelSwitchApp.env_roots={envs['root']}", "--KernelSwitchApp.env_depth=2", *args,
    ])  # fmt: skip


@pytest.fixture(scope="module")
def pool_server(envs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[RunningServer]:
    with _server(envs, tmp_path_factory.mktemp("cand-server"),
                 "--KernelSwitchApp.max_candidates=2") as srv:
        yield srv


async def select(nb: Notebook, target: Path | str) -> tuple[int, Any]:
    return await rest(nb.url, nb.token, "POST",
                      f"kernelswitch/api/kernels/{nb.kernel_id}/candidate",
                      {"target": str(target)})


async def candidate(nb: Notebook) -> Any:
    code, body = await rest(nb.url, nb.token, "GET",
                            f"kernelswitch/api/kernels/{nb.kernel_id}/candidate")
    assert code == 200, body
    return body["candidate"]


async def ready(nb: Notebook, within: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        c = await candidate(nb)
        assert c is not None and c["state"] in ("starting", "ready"), c
        if c["state"] == "ready":
            return dict(c)
        assert time.monotonic() < deadline, c
        await asyncio.sleep(0.1)


async def gone(pid: int, within: float = 15) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # a zombie is gone too (its parent, the server, reaps it later)
        try:
            if Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z"):
                return True
        except (OSError, IndexError):
            return True
        await asyncio.sleep(0.1)
    return False


async def none_within(nb: Notebook, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await candidate(nb) is None:
            return True
        await asyncio.sleep(0.2)
    return False


def test_apply_uses_the_prestarted_kernel_and_carries(pool_server: RunningServer,
                                                      envs: dict[str, Path]) -> None:
    async def scenario() -> None:
        nb = await Notebook.open(pool_server.url, pool_server.token)
        try:
            await nb.run("x = 41")
            code, body = await select(nb, envs["native"])
            assert code == 202, body
            assert body["candidate"]["target"]["prefix"] == str(envs["native"])
            c = await ready(nb)
            assert c["pid"] and c["ready_after_s"] is not None
            await nb.run("x = 42; y = [1, 2]")  # after the selection: carry takes these
            code, ans = await nb.switch(str(envs["native"]), carry=True)
            assert code == 200, ans
            assert ans["prestarted"] is True and ans["env"]["pid"] == c["pid"]
            assert await nb.value("[__import__('os').getpid(), x, y]") == [c["pid"], 42, [1, 2]]
            assert await candidate(nb) is None  # used up
            # the current env selected: nothing to pre-start
            code, body = await select(nb, envs["native"])
            assert (code, body["candidate"]) == (202, None)
        finally:
            await nb.close()

    asyncio.run(scenario())


def test_second_selection_replaces_and_dead_one_is_replaced(
        pool_server: RunningServer, envs: dict[str, Path]) -> None:
    async def scenario() -> None:
        nb = await Notebook.open(pool_server.url, pool_server.token)
        try:
            await select(nb, envs["native"])
            first = await ready(nb)
            code, body = await select(nb, envs["overlay"])
            assert code == 202, body
            assert await gone(first["pid"]), "the first candidate still runs"
            second = await ready(nb)
            assert second["target"]["prefix"] == str(envs["overlay"])
            assert second["pid"] != first["pid"]
            os.kill(second["pid"], signal.SIGKILL)  # it dies while waiting
            await gone(second["pid"])
            code, ans = await nb.switch(str(envs["overlay"]))
            assert code == 200, ans
            assert ans["prestarted"] is False and ans["env"]["pid"] != second["pid"]
            assert await nb.value("__import__('sys').prefix") == str(envs["overlay"])
            # DELETE drops it
            await select(nb, envs["native"])
            pid = (await ready(nb))["pid"]
            code, _ = await rest(nb.url, nb.token, "DELETE",
                                 f"kernelswitch/api/kernels/{nb.kernel_id}/candidate")
            assert code == 204 and await candidate(nb) is None and await gone(pid)
        finally:
            await nb.close()

    asyncio.run(scenario())


def test_max_candidates_kernel_gone_and_disk_change(pool_server: RunningServer,
                                                    envs: dict[str, Path]) -> None:
    async def scenario() -> None:
        nbs = [await Notebook.open(pool_server.url, pool_server.token) for _ in range(3)]
        try:
            for nb in nbs:
                code, body = await select(nb, envs["overlay"])
                assert code == 202, body
                await asyncio.sleep(0.05)  # a strict order of age
            assert await candidate(nbs[0]) is None, "the oldest stays beyond max_candidates=2"
            pids = [(await ready(nb))["pid"] for nb in nbs[1:]]
            # its kernel goes: the candidate goes with it
            await nbs[1].close()
            assert await gone(pids[0]), "a candidate outlived its kernel"
            # the target changes on disk (a package installed): dropped
            site = next((envs["overlay"] / "lib").glob("python*/site-packages"))
            (site / "ks_new_pkg.py").write_text("")
            try:
                assert await none_within(nbs[2], 10), "a stale candidate stays after a change"
                assert await gone(pids[1])
            finally:
                (site / "ks_new_pkg.py").unlink()
        finally:
            for nb in (nbs[0], nbs[2]):
                await nb.close()

    asyncio.run(scenario())


def test_bad_selection_is_refused(pool_server: RunningServer, envs: dict[str, Path]) -> None:
    async def scenario() -> None:
        nb = await Notebook.open(pool_server.url, pool_server.token)
        try:
            code, body = await select(nb, envs["root"] / "not-python.txt")
            assert code in (404, 422), body
            assert body["error"]["message"] and await candidate(nb) is None
            code, body = await rest(nb.url, nb.token, "GET",
                                    "kernelswitch/api/kernels/nosuch/candidate")
            assert code == 404 and body["error"]["code"] == "kernel_not_found"
            # a target whose kernel dies at start: failed, with the reason; Apply fails
            # as a switch does and the kernel keeps running
            await select(nb, envs["dying"])
            deadline = time.monotonic() + 30
            while (c := await candidate(nb))["state"] == "starting":
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
            assert c["state"] == "failed" and c["error"]["code"] == "kernel_exited", c
            code, ans = await nb.switch(str(envs["dying"]))
            assert code == 502 and ans["ok"] is False
            assert await nb.value("1 + 1") == 2
        finally:
            await nb.close()

    asyncio.run(scenario())


def test_ttl_expiry(envs: dict[str, Path], tmp_path: Path) -> None:
    with _server(envs, tmp_path, "--KernelSwitchApp.candidate_ttl=8") as srv:
        async def scenario() -> None:
            nb = await Notebook.open(srv.url, srv.token)
            try:
                await select(nb, envs["overlay"])
                pid = (await ready(nb))["pid"]
                assert await none_within(nb, 20), "the candidate outlived candidate_ttl"
                assert await gone(pid)
            finally:
                await nb.close()

        asyncio.run(scenario())


def test_pyenv_compare_prestarts(pool_server: RunningServer, envs: dict[str, Path]) -> None:
    async def scenario() -> None:
        nb = await Notebook.open(pool_server.url, pool_server.token)
        try:
            await nb.run("%load_ext kernelswitch")
            out = await nb.run(f"%pyenv compare {envs['native']}")
            assert str(envs["native"]) in out, nb.stderr
            c = await ready(nb)
            assert c["target"]["prefix"] == str(envs["native"])
            out = await nb.run(f"%pyenv switch {envs['native']}")
            assert "switched to" in out, (out, nb.stderr)
            assert await nb.value("__import__('os').getpid()") == c["pid"]
        finally:
            await nb.close()

    asyncio.run(scenario())
