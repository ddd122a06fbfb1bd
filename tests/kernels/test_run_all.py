"""Run All through ``%pyenv switch``: every cell's execute_request goes out at
once over one websocket (as JupyterLab sends them), before the magic runs.

The cells queued behind the magic run in the new env, once, with their
output and reply; a switch that fails leaves them to the old kernel, once;
both websocket protocols (legacy JSON and ``v1.kernel.websocket.jupyter.org``,
JupyterLab's).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.services.kernels.connection.base import (
    deserialize_msg_from_ws_v1,
    serialize_msg_to_ws_v1,
)
from support.jupyter import RunningServer
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from ._client import Notebook, rest

pytestmark = pytest.mark.server

V1 = "v1.kernel.websocket.jupyter.org"


class Tab:
    """One websocket, either protocol, that sends a whole notebook at once."""

    def __init__(self, nb: Notebook, ws: Any, protocol: str) -> None:
        self.nb, self.ws, self.protocol = nb, ws, protocol
        self.session = uuid.uuid4().hex

    @classmethod
    async def open(cls, nb: Notebook, protocol: str) -> Tab:
        url = nb.url.replace("http", "ws", 1)
        ws = await websocket_connect(HTTPRequest(
            f"{url}api/kernels/{nb.kernel_id}/channels?session_id={uuid.uuid4().hex}",
            headers={"Authorization": f"token {nb.token}"},
        ), subprotocols=[V1] if protocol == "v1" else None)  # fmt: skip
        assert (ws.selected_subprotocol == V1) == (protocol == "v1")
        return cls(nb, ws, protocol)

    def _encode(self, msg: dict[str, Any]) -> str | bytes:
        if self.protocol == "v1":
            return serialize_msg_to_ws_v1(msg, "shell", lambda x: json.dumps(x).encode())
        return json.dumps({**msg, "channel": "shell"})

    def _decode(self, raw: str | bytes) -> dict[str, Any]:
        if self.protocol == "v1":
            assert isinstance(raw, bytes)
            channel, parts = deserialize_msg_from_ws_v1(raw)
            keys = ("header", "parent_header", "metadata", "content")
            return {"channel": channel,
                    **{k: json.loads(p) for k, p in zip(keys, parts[:4], strict=True)}}
        return json.loads(raw)

    async def run_all(self, cells: list[str], stop_on_error: bool = True,
                      timeout: float = 90) -> list[dict[str, Any]]:
        """Send every cell at once; per cell its reply, stdout and stderr."""
        msgs = self.requests(cells, stop_on_error)
        for m in msgs:
            await self.ws.write_message(self._encode(m), binary=self.protocol == "v1")
        out = {m["header"]["msg_id"]: {"reply": None, "idle": False, "stdout": "",
                                        "stderr": "", "replies": 0} for m in msgs}
        return await self._replies(msgs, out, timeout)

    def requests(self, cells: list[str], stop_on_error: bool = True) -> list[dict[str, Any]]:
        msgs = []
        for code in cells:
            msgs.append({
                "header": {"msg_id": uuid.uuid4().hex, "msg_type": "execute_request",
                           "session": self.session, "username": "test", "version": "5.3",
                           "date": ""},
                "parent_header": {}, "metadata": {}, "buffers": [],
                "content": {"code": code, "silent": False, "store_history": True,
                            "user_expressions": {}, "allow_stdin": False,
                            "stop_on_error": stop_on_error},
            })  # fmt: skip
        return msgs

    async def _replies(self, msgs: list[dict[str, Any]], out: dict[str, dict[str, Any]],
                       timeout: float) -> list[dict[str, Any]]:
        try:
            await asyncio.wait_for(self._collect(out), timeout)
        except TimeoutError:
            raise AssertionError(f"not every cell ended within {timeout} s: {out}") from None
        await asyncio.sleep(0.5)  # a late duplicate reply would show now
        while True:
            try:
                raw = await asyncio.wait_for(self.ws.read_message(), 0.2)
            except TimeoutError:
                break
            m = self._decode(raw)  # type: ignore[arg-type]
            cell = out.get(m["parent_header"].get("msg_id"))
            if cell is not None and m["channel"] == "shell":
                cell["replies"] += 1
        return [out[m["header"]["msg_id"]] for m in msgs]

    async def _collect(self, out: dict[str, dict[str, Any]]) -> None:
        while not all(c["reply"] and c["idle"] for c in out.values()):
            raw = await self.ws.read_message()
            assert raw is not None, "the websocket closed"
            m = self._decode(raw)
            cell = out.get(m["parent_header"].get("msg_id"))
            if cell is None:
                continue
            kind = m["header"]["msg_type"]
            if m["channel"] == "shell":
                cell["reply"], cell["replies"] = m, cell["replies"] + 1
            elif kind == "stream":
                cell[m["content"]["name"]] += m["content"]["text"]
            elif kind == "status" and m["content"]["execution_state"] == "idle":
                assert not cell["idle"], f"two idle statuses for {m['parent_header']}"
                cell["idle"] = True


async def _settled(nb: Notebook) -> dict[str, Any]:
    """The kernel's env once no switch is under way (a dropped one tidies up after)."""
    async with asyncio.timeout(30):
        while (env := (await nb.env())["env"])["switching"]:
            await asyncio.sleep(0.05)
    return env


def _status(cell: dict[str, Any]) -> str:
    return cell["reply"]["content"]["status"]


def _append(log: Path) -> str:
    return (f"import sys; open({str(log)!r}, 'a').write(sys.prefix + '\\n'); "
            "print(sys.prefix)")


@pytest.mark.parametrize("protocol", ["v1", "legacy"])
def test_run_all_moves_queued_cells(server: RunningServer, envs: dict[str, Path],
                                    tmp_path: Path, protocol: str) -> None:
    log = tmp_path / "side-effect.txt"

    async def scenario() -> None:
        nb = await Notebook.open(server.url, server.token)
        tab = await Tab.open(nb, protocol)
        try:
            cells = await tab.run_all([
                "%load_ext kernelswitch\na = 1",
                f"%pyenv switch {envs['native']} --carry",
                _append(log),
                "print(a + 1)",
            ])  # fmt: skip
            assert [_status(c) for c in cells] == ["ok"] * 4, [c["reply"] for c in cells]
            assert [c["replies"] for c in cells] == [1] * 4
            assert "switched to" in cells[1]["stdout"], cells[1]
            assert cells[2]["stdout"] == f"{envs['native']}\n", cells[2]
            assert cells[3]["stdout"] == "2\n", cells[3]
            # the side effect happened once, in the new env: the old kernel never ran it
            assert log.read_text() == f"{envs['native']}\n"
            assert (await nb.env())["env"]["prefix"] == str(envs["native"])
            # the notebook goes on normally, in the new env
            assert await nb.value("[__import__('sys').prefix, a]") == [str(envs["native"]), 1]
        finally:
            tab.ws.close()
            await nb.close()

    asyncio.run(scenario())


def test_run_all_through_a_failed_switch(server: RunningServer, envs: dict[str, Path],
                                         tmp_path: Path) -> None:
    """The target cannot start: the queued cells run in the old kernel as usual."""
    log = tmp_path / "side-effect.txt"

    async def scenario() -> None:
        nb = await Notebook.open(server.url, server.token)
        tab = await Tab.open(nb, "v1")
        try:
            before = (await nb.env())["env"]["prefix"]
            cells = await tab.run_all([
                "%load_ext kernelswitch\na = 1",
                f"%pyenv switch {envs['dying']}",
                _append(log),
                "print(a + 1)",
            ], stop_on_error=False)  # fmt: skip
            assert [_status(c) for c in cells] == ["ok", "error", "ok", "ok"]
            assert "exited with code 3" in cells[1]["reply"]["content"]["evalue"], cells[1]
            assert [c["replies"] for c in cells] == [1] * 4
            assert cells[2]["stdout"] == f"{before}\n" and cells[3]["stdout"] == "2\n"
            assert log.read_text() == f"{before}\n"
        finally:
            tab.ws.close()
            await nb.close()

    asyncio.run(scenario())


def test_run_all_when_the_new_kernel_dies_before_the_cell_ends(
        server: RunningServer, envs: dict[str, Path], tmp_path: Path) -> None:
    """The candidate was ready, then died while the magic's cell still ran:
    no swap, the queued cells run once in the old kernel, the user is told."""
    log = tmp_path / "side-effect.txt"
    kill = ("ans = %pyenv switch {} --json\n"
            "import os, signal, time; os.kill(ans['env']['pid'], signal.SIGKILL); "
            "time.sleep(0.5)").format(envs["native"])

    async def scenario() -> None:
        nb = await Notebook.open(server.url, server.token)
        tab = await Tab.open(nb, "v1")
        try:
            before = (await nb.env())["env"]
            cells = await tab.run_all(["%load_ext kernelswitch\na = 1", kill, _append(log),
                                       "print(a + 1)"], timeout=30)
            assert [_status(c) for c in cells] == ["ok"] * 4, [c["reply"] for c in cells]
            assert [c["replies"] for c in cells] == [1] * 4
            assert cells[2]["stdout"] == f"{before['prefix']}\n", cells[2]
            assert "did not happen" in cells[2]["stderr"], cells[2]
            assert "exited" in cells[2]["stderr"], cells[2]
            assert cells[3]["stdout"] == "2\n"
            assert log.read_text() == f"{before['prefix']}\n"
            now = await _settled(nb)
            assert (now["prefix"], now["pid"]) == (before["prefix"], before["pid"])
            # nothing is left dropping cells: the next ones run normally
            assert await nb.value("a") == 1
        finally:
            tab.ws.close()
            await nb.close()

    asyncio.run(scenario())


def test_interrupted_switch_does_not_happen(server: RunningServer, envs: dict[str, Path]) -> None:
    """The user interrupts the magic while the new kernel starts: no switch."""

    async def scenario() -> None:
        nb = await Notebook.open(server.url, server.token)
        tab = await Tab.open(nb, "v1")
        try:
            await tab.run_all(["%load_ext kernelswitch\na = 1"])
            before = (await nb.env())["env"]
            asked = asyncio.ensure_future(tab.run_all([f"%pyenv switch {envs['native']}"]))
            while not (await nb.env())["env"]["switching"]:
                await asyncio.sleep(0.02)
            code, _ = await rest(server.url, server.token, "POST",
                                 f"api/kernels/{nb.kernel_id}/interrupt")
            assert code == 204
            (cell,) = await asked
            assert cell["reply"]["content"]["ename"] == "KeyboardInterrupt", cell["reply"]
            now = await _settled(nb)  # the candidate got ready, and was discarded
            assert (now["prefix"], now["pid"]) == (before["prefix"], before["pid"]), \
                server.log.read_text()[-3000:]
            (cell,) = await tab.run_all(["print(__import__('sys').prefix, a)"])
            assert cell["stdout"] == f"{before['prefix']} 1\n"
        finally:
            tab.ws.close()
            await nb.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("stop_on_error", [True, False])
def test_run_all_when_the_cell_fails_after_the_magic(
        server: RunningServer, envs: dict[str, Path], tmp_path: Path, stop_on_error: bool) -> None:
    """The cell with the magic raises afterwards: no switch; the queued cells
    are aborted (stop_on_error, what Jupyter does after an error) or run once
    in the old kernel, which says why it was not switched."""
    log = tmp_path / "side-effect.txt"

    async def scenario() -> None:
        nb = await Notebook.open(server.url, server.token)
        tab = await Tab.open(nb, "v1")
        try:
            before = (await nb.env())["env"]
            cells = await tab.run_all([
                "%load_ext kernelswitch\na = 1",
                f"%pyenv switch {envs['native']}\n1 / 0",
                _append(log),
            ], stop_on_error=stop_on_error)  # fmt: skip
            assert [c["replies"] for c in cells] == [1] * 3
            assert _status(cells[1]) == "error" and "switched to" in cells[1]["stdout"]
            if stop_on_error:
                assert _status(cells[2]) == "aborted" and not log.exists()
            else:
                assert _status(cells[2]) == "ok", cells[2]
                assert cells[2]["stdout"] == f"{before['prefix']}\n"
                assert "did not happen (the cell that asked for it failed)" in cells[2]["stderr"]
                assert log.read_text() == f"{before['prefix']}\n"
            now = await _settled(nb)
            assert (now["prefix"], now["pid"]) == (before["prefix"], before["pid"])
        finally:
            tab.ws.close()
            await nb.close()

    asyncio.run(scenario())


def test_tab_closed_before_the_cell_ends(server: RunningServer, envs: dict[str, Path]) -> None:
    """The websocket that ran the magic closes while its cell still runs: the
    switch is dropped (no one is left to see the cell end), the kernel stays,
    and the next switch is not refused as busy."""

    async def scenario() -> None:
        nb = await Notebook.open(server.url, server.token)
        tab = await Tab.open(nb, "v1")
        try:
            await tab.run_all(["%load_ext kernelswitch"])
            before = (await nb.env())["env"]
            (msg,) = tab.requests([f"%pyenv switch {envs['native']}\n"
                                   "import time; time.sleep(30)"])
            await tab.ws.write_message(tab._encode(msg), binary=True)
            async with asyncio.timeout(60):  # the answer came: the switch waits for the cell
                while True:
                    m = tab._decode(await tab.ws.read_message())  # type: ignore[arg-type]
                    if "switched to" in m["content"].get("text", ""):
                        break
            tab.ws.close()
            now = await _settled(nb)
            assert (now["prefix"], now["pid"]) == (before["prefix"], before["pid"])
            await rest(server.url, server.token, "POST", f"api/kernels/{nb.kernel_id}/interrupt")
            code, ans = await nb.switch(str(envs["native"]))
            assert code == 200, ans
        finally:
            await nb.close()

    asyncio.run(scenario())


def test_cell_no_websocket_carried_waits_for_idle(server: RunningServer,
                                                  envs: dict[str, Path]) -> None:
    """A ``cell`` that no websocket of the server carried (a client that is not
    a browser tab): the switch falls back to swapping once the kernel is idle."""

    async def scenario() -> None:
        nb = await Notebook.open(server.url, server.token)
        try:
            code, ans = await nb.switch(str(envs["native"]), when_idle=True,
                                        cell=uuid.uuid4().hex, drops_queued=True)
            assert code == 200 and ans["pending"] and "queued" not in ans, ans
            now = await _settled(nb)
            assert now["prefix"] == str(envs["native"])
            assert await nb.value("__import__('sys').prefix") == str(envs["native"])
        finally:
            await nb.close()

    asyncio.run(scenario())


def test_direct_switch_waits_only_for_requests_with_replies(
        server: RunningServer, envs: dict[str, Path]) -> None:
    """A direct switch lets replies already due arrive first; a comm_msg (which
    never gets a reply) is not waited for."""

    async def scenario() -> None:
        nb = await Notebook.open(server.url, server.token)
        tab = await Tab.open(nb, "legacy")
        try:
            msg = tab.requests([""])[0]
            msg["header"]["msg_type"] = "comm_msg"
            msg["content"] = {"comm_id": uuid.uuid4().hex, "data": {}}
            await tab.ws.write_message(tab._encode(msg))
            (cell,) = await tab.run_all(["x = 1"])
            assert _status(cell) == "ok"
            code, ans = await nb.switch(str(envs["native"]))
            assert code == 200, ans
            assert f"kernel {nb.kernel_id} is busy; switching anyway" not in \
                server.log.read_text()
            (cell,) = await tab.run_all(["print(__import__('sys').prefix)"])
            assert cell["stdout"] == f"{envs['native']}\n"
        finally:
            tab.ws.close()
            await nb.close()

    asyncio.run(scenario())
