"""Issue 15: a file named in a request can neither exhaust nor wedge the server.

``notebook=/dev/zero`` used to read until the server was OOM-killed; a FIFO
named ``f0.ipynb`` blocked a thread of the ``files`` pool forever, and two of
them starved compare and ``GET envs``. Real jupyter_server, real kernel, real
FIFO, device and sparse file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from support.jp import jp_call, ks_server_config
from tornado.httpclient import HTTPClientError

pytestmark = pytest.mark.server

#: Each refusal answers well within this (the old code never answered).
QUICK = 5.0


@pytest.fixture
def jp_server_config(tmp_path: Path) -> dict:
    (tmp_path / "roots").mkdir()
    return ks_server_config(libvirt_uris=["test:///default"], env_roots=[str(tmp_path / "roots")],
                            env_depth=2)  # fmt: skip


@contextlib.asynccontextmanager
async def _kernel(jp_fetch: Any) -> AsyncIterator[str]:
    resp = await jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": "python3"}))
    kid = json.loads(resp.body)["id"]
    try:
        yield kid
    finally:
        await jp_fetch("api", "kernels", kid, method="DELETE")


async def _compare_error(jp_fetch: Any, kid: str, notebook: str) -> tuple[int, str, float]:
    t0 = time.monotonic()
    with pytest.raises(HTTPClientError) as e:
        await asyncio.wait_for(
            jp_call(jp_fetch, "GET", "kernels", kid, "compare", target="system", notebook=notebook),
            timeout=60,
        )
    assert e.value.response is not None
    message = json.loads(e.value.response.body)["error"]["message"]
    return e.value.code, message, time.monotonic() - t0


async def _still_answers(jp_fetch: Any, kid: str, notebook: Path) -> None:
    _, body = await jp_call(
        jp_fetch, "GET", "kernels", kid, "compare", target="system", notebook=str(notebook)
    )
    assert body["notebook_imports"] == ["json"]
    _, envs = await jp_call(jp_fetch, "GET", "envs")
    assert envs["partial"] is False and envs["envs"]


def _good_notebook(path: Path) -> Path:
    cell = {"cell_type": "code", "source": "import json\n", "metadata": {}, "outputs": [],
            "execution_count": None}  # fmt: skip
    path.write_text(json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}))  # fmt: skip
    return path


async def test_dev_zero_as_notebook_is_refused_at_once(jp_fetch: Any, tmp_path: Path) -> None:
    async with _kernel(jp_fetch) as kid:
        code, message, seconds = await _compare_error(jp_fetch, kid, "/dev/zero")
        assert code == 422 and seconds < QUICK
        assert "/dev/zero is a device, not a regular file" in message
        await _still_answers(jp_fetch, kid, _good_notebook(tmp_path / "ok.ipynb"))


async def test_fifos_as_notebook_neither_hang_nor_starve_the_pool(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    """Three FIFOs (one more than the ``files`` pool has threads), by relative
    path as the file browser names them, all at once: each is refused quickly."""
    names = [f"f{i}.ipynb" for i in range(3)]
    for n in names:
        os.mkfifo(jp_root_dir / n)
    async with _kernel(jp_fetch) as kid:
        t0 = time.monotonic()
        answers = await asyncio.gather(*(_compare_error(jp_fetch, kid, n) for n in names))
        assert time.monotonic() - t0 < QUICK
        for (code, message, _), n in zip(answers, names, strict=True):
            assert code == 422 and f"{jp_root_dir / n} is a named pipe (FIFO)" in message
        await _still_answers(jp_fetch, kid, _good_notebook(jp_root_dir / "ok.ipynb"))


async def test_huge_sparse_notebook_is_refused_with_the_limit(
    jp_fetch: Any, tmp_path: Path
) -> None:
    big = tmp_path / "big.ipynb"
    with open(big, "wb") as f:
        f.truncate(2 * 1024**3)
    async with _kernel(jp_fetch) as kid:
        code, message, seconds = await _compare_error(jp_fetch, kid, str(big))
        assert code == 422 and seconds < QUICK
        assert "2048 MB, over the 50 MB limit" in message
        await _still_answers(jp_fetch, kid, _good_notebook(tmp_path / "ok.ipynb"))
