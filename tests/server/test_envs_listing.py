"""GET envs: the server's env and the system interpreter always listed, labels
that tell duplicate names apart, short paths, recommended envs (issue 16)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from support.jp import ks_server_config
from support.venvs import make_venv
from tornado.httpclient import HTTPClientError

pytestmark = pytest.mark.server


@pytest.fixture
def env_root(tmp_path: Path) -> Path:
    root = tmp_path / "projects"
    for proj in ("proj-a", "proj-b"):
        make_venv(root / proj / ".venv")
    (root / "proj-a" / "pyproject.toml").write_text("[project]\nname = 'a'\n")
    (root / "proj-a" / "notebooks").mkdir()
    (root / "proj-a" / "notebooks" / "nb.ipynb").write_text(
        json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    make_venv(root / "loose-env")
    return root


@pytest.fixture
def jp_server_config(env_root: Path) -> dict:
    return ks_server_config(env_roots=[str(env_root)], env_depth=3)


async def _envs(jp_fetch, **params: str) -> list[dict]:
    resp = await jp_fetch("kernelswitch", "api", "envs", params=params)
    return json.loads(resp.body)["envs"]


async def test_server_env_and_system_always_listed(jp_fetch, env_root: Path) -> None:
    envs = await _envs(jp_fetch)
    # the roots hold neither the server's .venv nor /usr/bin/python3
    servers = [e for e in envs if e["server"]]
    assert len(servers) == 1, servers
    assert servers[0]["prefix"] == sys.prefix
    assert os.path.samefile(servers[0]["executable"], sys.executable)
    assert servers[0]["mode"] != "incompatible", servers[0]
    systems = [e for e in envs if e["kind"] == "system"]
    assert systems and systems[0]["executable"].startswith(("/usr/bin/python", "/usr/local"))
    assert all(e["server"] is False for e in envs if e is not servers[0])


async def test_labels_short_paths_and_recommended(jp_fetch, env_root: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    by_prefix = {e["prefix"]: e for e in await _envs(jp_fetch)}
    a, b = by_prefix[str(env_root / "proj-a" / ".venv")], by_prefix[str(env_root / "proj-b" /
                                                                        ".venv")]
    assert (a["label"], b["label"]) == ("proj-a/.venv", "proj-b/.venv")
    assert by_prefix[str(env_root / "loose-env")]["label"] == "loose-env"
    home = os.path.expanduser("~")
    for e in by_prefix.values():
        want = "~" + e["prefix"][len(home):] if e["prefix"].startswith(home + "/") else e["prefix"]
        assert e["short_path"] == want
        assert "recommended" not in e  # only asked with ?notebook=
    nb = env_root / "proj-a" / "notebooks" / "nb.ipynb"
    envs = await _envs(jp_fetch, notebook=str(nb))
    rec = {e["prefix"] for e in envs if e["recommended"]}
    # proj-a/.venv is in the notebook's project (pyproject.toml), not its folder
    assert rec == {str(env_root / "proj-a" / ".venv")}, rec


async def test_kernel_marks_current_and_unknown_kernel_is_404(jp_fetch) -> None:
    with pytest.raises(HTTPClientError) as e:
        await _envs(jp_fetch, kernel="no-such-kernel")
    assert e.value.code == 404
    assert "no-such-kernel" in json.loads(e.value.response.body)["error"]["message"]
