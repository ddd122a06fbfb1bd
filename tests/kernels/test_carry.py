"""``carry``: the user's variables move with the kernel; what cannot is named."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from support.jupyter import RunningServer

from ._client import Notebook

pytestmark = pytest.mark.server

SETUP = """
import numpy as np
import sys
n = 42
items = [1, "two", 3.0]
arr = np.arange(6).reshape(2, 3)
class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y
    def norm2(self):
        return self.x ** 2 + self.y ** 2
p = Point(3, 4)
fh = open(__import__("os").devnull, "w")  # a file being written: not picklable
"""


def test_carry_moves_variables(server: RunningServer, envs: dict[str, Path]) -> None:
    async def scenario() -> None:
        nb = await Notebook.open(server.url, server.token)
        try:
            await nb.run(SETUP)
            # overlay: the target gets numpy and cloudpickle from the server
            code, ans = await nb.switch(str(envs["overlay"]), carry=True)
            assert code == 200, ans
            assert {"n", "items", "arr", "p", "Point"} <= set(ans["carried"]), ans
            assert "fh" in ans["not_carried"]
            assert "pickle" in ans["not_carried"]["fh"]
            got = await nb.value(
                "[__import__('sys').prefix, n, items, arr.tolist(), p.norm2(), type(p).__name__]"
            )
            assert got == [str(envs["overlay"]), 42, [1, "two", 3.0], [[0, 1, 2], [3, 4, 5]],
                           25, "Point"]
            assert "carry" in ans["timings"]
            # modules are re-imported, never "cannot pickle" nor "not carried" (issue 16)
            carry = ans["carry"]
            assert {"np", "sys"} <= set(carry["reimported"]), carry
            assert "arr" in carry["carried"]
            not_carried = {i["name"]: i["reason"] for i in carry["not_carried"]}
            assert set(not_carried) == {"fh"} and "pickle" in not_carried["fh"], carry
            assert not {"np", "sys"} & set(ans["not_carried"])
            assert await nb.value("[np.arange(3).sum().item(), sys.prefix]") == [
                3, str(envs["overlay"])]
            # without carry the namespace starts empty
            code, ans = await nb.switch(str(envs["native"]))
            assert code == 200 and ans["carried"] == []
            assert await nb.value("'n' in dir()") is False
        finally:
            await nb.close()

    asyncio.run(scenario())
