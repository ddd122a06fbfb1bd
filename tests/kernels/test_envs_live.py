"""Roots on top of the defaults, errors for missing ones, and a live env list."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest
from support.jupyter import RunningServer, jupyter_server
from support.venvs import make_venv

from ._client import Notebook, rest

pytestmark = pytest.mark.server


def test_extra_root_and_missing_root(server: RunningServer, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    make_venv(other / "far-env")

    async def scenario() -> None:
        code, body = await rest(server.url, server.token, "GET",
                                f"kernelswitch/api/envs?root={other}")
        assert code == 200, body
        assert str(other / "far-env") in [e["prefix"] for e in body["envs"]]
        assert str(other) in body["roots"] and len(body["roots"]) >= 2  # on top of the defaults
        code, body = await rest(server.url, server.token, "GET",
                                f"kernelswitch/api/envs?root={tmp_path / 'nope'}")
        assert (code, body["error"]["code"]) == (404, "env_root_not_found"), body
        assert "nope" in body["error"]["message"]
        # the magic takes --root and says what it scanned
        nb = await Notebook.open(server.url, server.token)
        try:
            await nb.run("%load_ext kernelswitch")
            out = await nb.run(f"%pyenv list --root {other}")
            assert "far-env" in out and "scanned: " in out and str(other) in out, nb.stderr
            with pytest.raises(AssertionError) as err:  # the cell fails with one line
                await nb.run(f"%pyenv list --root {tmp_path / 'nope'}")
            assert "UsageError: %pyenv: " in str(err.value) and "not a folder" in str(err.value)
        finally:
            await nb.close()

    asyncio.run(scenario())


def test_list_is_live(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "old" / "a" / "b").mkdir(parents=True)
    with jupyter_server(tmp_path, extra_args=[
        f"--KernelSwitchApp.env_roots=[\"{root}\"]", "--KernelSwitchApp.env_depth=4",
    ]) as srv:  # fmt: skip
        def prefixes() -> list[str]:
            return [e["prefix"] for e in srv.api("envs")["envs"]]  # type: ignore[index]

        assert srv.api("envs")["roots"] == [str(root)]  # type: ignore[index]
        gen0 = srv.api("envs/generation")["generation"]  # type: ignore[index]
        assert str(root / "new-env") not in prefixes()
        make_venv(root / "new-env")
        deadline = time.monotonic() + 20.0  # the old walk cache kept it 60 s
        while str(root / "new-env") not in prefixes():
            assert time.monotonic() < deadline, "a new venv did not show without a refresh"
            time.sleep(0.1)
        assert srv.api("envs/generation")["generation"] > gen0  # type: ignore[index]
        # a new project folder, then its .venv: the folder joins the watch
        (root / "proj").mkdir()
        make_venv(root / "proj" / ".venv")
        deadline = time.monotonic() + 20.0
        while str(root / "proj" / ".venv") not in prefixes():
            assert time.monotonic() < deadline, "a project's new .venv did not show"
            time.sleep(0.1)
        # as deep as the scan goes: in an old folder three levels down, and in
        # folders made one after another
        make_venv(root / "old" / "a" / "b" / "deep-env")  # a refresh finds it...
        deadline = time.monotonic() + 20.0  # ...the live list must too
        while str(root / "old" / "a" / "b" / "deep-env") not in prefixes():
            assert time.monotonic() < deadline, "a venv four levels down did not show"
            time.sleep(0.1)
        for part in ("x", "x/y", "x/y/z"):
            (root / part).mkdir()
            time.sleep(0.4)
        make_venv(root / "x" / "y" / "z" / "env")
        deadline = time.monotonic() + 20.0
        while str(root / "x" / "y" / "z" / "env") not in prefixes():
            assert time.monotonic() < deadline, "a venv in new nested folders did not show"
            time.sleep(0.1)
        shutil.rmtree(root / "new-env")
        deadline = time.monotonic() + 20.0  # the old walk cache kept it 60 s
        while str(root / "new-env") in prefixes():
            assert time.monotonic() < deadline, "a removed venv still listed without a refresh"
            time.sleep(0.1)
        # an env whose interpreter vanished: incompatible, saying why, without a refresh
        for exe in (root / "proj" / ".venv" / "bin").glob("python*"):
            exe.unlink()
        deadline = time.monotonic() + 20.0
        while True:
            rec = next(e for e in srv.api("envs")["envs"]  # type: ignore[index]
                       if e["prefix"] == str(root / "proj" / ".venv"))
            if rec["mode"] == "incompatible":
                break
            assert time.monotonic() < deadline, f"a vanished interpreter still listed: {rec}"
            time.sleep(0.1)
        assert "interpreter is missing" in rec["error"], rec
        # the table says the API's word
        from kernelswitch.kernelside.format import env_table

        row = next(r for r in env_table([rec]).splitlines() if ".venv" in r)
        assert "incompatible" in row.split() and "error" not in row.split()
