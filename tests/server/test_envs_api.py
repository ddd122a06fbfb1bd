"""Server layer: a real jupyter_server with the extension answers the envs API."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.jp import ks_server_config
from tornado.httpclient import HTTPClientError

pytestmark = pytest.mark.server


@pytest.fixture
def env_root(tmp_path: Path) -> Path:
    root = tmp_path / "projects"
    root.mkdir()
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(root / "demo-env")], check=True
    )
    return root


@pytest.fixture
def jp_server_config(env_root: Path) -> dict:
    return ks_server_config(env_roots=[str(env_root)], env_depth=3)


async def test_envs_authenticated(jp_fetch, env_root: Path) -> None:
    resp = await jp_fetch("kernelswitch", "api", "envs")
    assert resp.code == 200
    assert resp.headers["Content-Type"].startswith("application/json")
    body = json.loads(resp.body)
    prefixes = {e["prefix"]: e for e in body["envs"]}
    rec = prefixes[str(env_root / "demo-env")]
    assert rec["version"] == "{}.{}.{}".format(*sys.version_info[:3])
    assert rec["kind"] in ("venv", "virtualenv")
    assert set(rec) >= {
        "kind", "name", "prefix", "executable", "version",
        "version_source", "has_ipykernel", "mode", "error",
    }  # fmt: skip


async def test_envs_refuses_without_token(jp_fetch, http_server_client, jp_base_url) -> None:
    with pytest.raises(HTTPClientError) as e:
        await http_server_client.fetch(
            f"{jp_base_url}kernelswitch/api/envs", headers={"Accept": "application/json"}
        )
    assert e.value.code == 403
    err = json.loads(e.value.response.body)
    assert err["error"]["code"] == "forbidden"


async def test_unknown_route_is_json_404(jp_fetch) -> None:
    for method, body in (("GET", None), ("POST", "{}")):
        with pytest.raises(HTTPClientError) as e:
            await jp_fetch("kernelswitch", "api", "nothing-here", method=method, body=body)
        assert e.value.code == 404
        err = json.loads(e.value.response.body)["error"]
        assert err["code"] == "not_found" and "nothing-here" in err["message"]


async def test_jupyterlab_cache_buster_is_accepted(jp_fetch, env_root: Path) -> None:
    # JupyterLab's ServerConnection.makeRequest appends ?<milliseconds> to GETs
    resp = await jp_fetch("kernelswitch", "api", "envs", params={"1795615517122": ""})
    assert str(env_root / "demo-env") in {e["prefix"] for e in json.loads(resp.body)["envs"]}
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("kernelswitch", "api", "envs", params={"refersh": "1"})
    assert e.value.code == 400
    assert "refersh" in json.loads(e.value.response.body)["error"]["message"]
