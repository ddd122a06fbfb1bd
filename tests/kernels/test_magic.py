"""``%pyenv switch`` from inside the kernel it moves; names from the list work
wherever a target is taken; the kernel side loads in a native env that does
not have kernelswitch installed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from support.jupyter import RunningServer

from ._client import Notebook

pytestmark = pytest.mark.server


def test_pyenv_switch_magic(server: RunningServer, envs: dict[str, Path]) -> None:
    async def scenario() -> None:
        nb = await Notebook.open(server.url, server.token)
        try:
            await nb.run("%load_ext kernelswitch")
            # a name from `%pyenv list`, not a path
            out = await nb.run("%pyenv compare named-env")
            assert "mode:     overlay" in out and str(envs["named"]) in out, nb.stderr
            await nb.run("import numpy; n = 7; items = [1, 2]")
            out = await nb.run("%pyenv switch named-env --carry")
            assert f"switched to named-env (venv, {envs['named']})" in out, (out, nb.stderr)
            assert "python:   " in out and "mode:     native -> overlay" in out
            # the venv has no numpy, overlay brings the server's: from the server, not lost
            lines = out.splitlines()
            assert any(ln.startswith("from server:") for ln in lines), out
            assert not any(ln.startswith("lost:") and "numpy" in ln for ln in lines), out
            assert "carried:  items, n" in out
            assert "re-imported: numpy" in out and "not carried" not in out
            # the next cell runs in the new env, with the carried variables
            got = await nb.value("[__import__('sys').prefix, n, items]")
            assert got == [str(envs["named"]), 7, [1, 2]]
            out = await nb.run("%pyenv current")
            assert "overlay" in out and str(envs["named"]) in out
            # the list marks this kernel's env, and always has the server's own
            rows = [ln.split() for ln in (await nb.run("%pyenv list")).splitlines()]
            starred = [r for r in rows if r and r[0] == "*"]
            assert len(starred) == 1 and starred[0][1:3] == ["venv", "named-env"], rows
            assert any(r[-1] == "(server)" for r in rows), rows
            # a native env that has only ipykernel: the magics still load
            out = await nb.run(f"%pyenv switch {envs['native']}")
            assert "mode:     overlay -> native" in out, out
            await nb.run("%load_ext kernelswitch")
            got = await nb.value(
                "[__import__('kernelswitch').__file__, __import__('sys').prefix,"
                " __import__('importlib.util').util.find_spec('jupyter_server') is None]"
            )
            assert got[1] == str(envs["native"])
            assert "site-packages" not in got[0], "the server's site-packages leaked in"
            assert got[2], "jupyter_server (the server's packages) is importable in native mode"
            out = await nb.run("%pyenv current")
            assert "native" in out and str(envs["native"]) in out
            # no anywidget there: the widget class says how to get it
            with pytest.raises(AssertionError) as err:
                await nb.run("from kernelswitch.widgets import EnvPicker; EnvPicker()")
            assert "WidgetsMissing" in str(err.value)
            assert "pip install anywidget ipywidgets" in str(err.value)
            # a refused switch fails the cell with one line, and the kernel stays
            with pytest.raises(AssertionError) as err:
                await nb.run(f"%pyenv switch {envs['dying']}")
            assert "UsageError: %pyenv: " in str(err.value)
            assert "exited with code 3" in str(err.value)
            assert await nb.value("__import__('sys').prefix") == str(envs["native"])
        finally:
            await nb.close()

    asyncio.run(scenario())
