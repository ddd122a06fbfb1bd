"""Server layer: ``POST vmspec`` (the create form's checks) and ``GET isos``.

Real server, real libvirt and libosinfo, the real test-OS ISO: the check
answers the identified OS and the sizes a create would use, names the field
of every mistake, and creates nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.server, pytest.mark.vm]


@pytest.fixture
def jp_server_config() -> dict:
    return {"ServerApp": {"jpserver_extensions": {"kernelswitch": True}}}


@pytest.fixture(scope="module")
def fedora_iso() -> Path:
    from kernelswitch._paths import testos_dir

    iso = Path(os.environ.get("KERNELSWITCH_TESTOS_DIR") or testos_dir()) / "testos-fedora.iso"
    if not iso.is_file():
        pytest.fail(f"test OS image missing: {iso}; build it with `bash scripts/build-testos.sh`")
    return iso


async def _check(jp_fetch, body: dict) -> dict:
    r = await jp_fetch("kernelswitch", "api", "vmspec", method="POST", body=json.dumps(body))
    assert r.code == 200
    return json.loads(r.body)


async def _state(jp_fetch) -> tuple[list[str], list[str]]:
    vms = json.loads((await jp_fetch("kernelswitch", "api", "vms")).body)["vms"]
    pool = json.loads((await jp_fetch("kernelswitch", "api", "storage")).body)
    return sorted(v["name"] for v in vms), sorted(v["name"] for v in pool["volumes"])


async def test_check_identifies_and_fills_sizes(jp_fetch, fedora_iso: Path) -> None:
    before = await _state(jp_fetch)
    answer = await _check(jp_fetch, {"iso": str(fedora_iso), "name": "ks-form-check"})
    assert answer["ok"] is True, answer["errors"]
    assert answer["errors"] == {}
    assert answer["identified"] is True
    assert answer["os"]["short_id"] == "fedora37"
    spec = answer["spec"]
    host = answer["host"]
    # fedora37's recommendations, capped by the host as `vm create` caps them
    assert spec["os"] == "fedora37" and spec["name"] == "ks-form-check"
    assert 1024**3 <= spec["memory"] <= max(1024**3, host["memory"] // 2)
    assert 1 <= spec["cpus"] <= host["cpus"]
    assert spec["disk"] >= 10 * 1024**3
    # an explicit OS wins over the identified one
    other = await _check(jp_fetch, {"iso": str(fedora_iso), "os": "generic"})
    assert other["os"]["short_id"] == "generic" and other["identified"] is False
    assert other["ok"] is False  # no name yet: not creatable, but nothing is wrong
    assert other["errors"] == {}
    assert await _state(jp_fetch) == before


async def test_check_names_each_wrong_field(jp_fetch, fedora_iso: Path) -> None:
    before = await _state(jp_fetch)
    answer = await _check(
        jp_fetch,
        {"iso": str(fedora_iso), "name": "bad name!", "memory": "lots", "cpus": "0", "disk": "1G"},
    )
    errors = answer["errors"]
    assert answer["ok"] is False
    assert set(errors) == {"name", "memory", "cpus", "disk"}, errors
    assert "'!'" in errors["name"] and "letters, digits" in errors["name"]
    assert "512M" in errors["memory"]  # says how to write a size
    assert "at least 1" in errors["cpus"]
    assert "at least 10G" in errors["disk"]  # fedora37's minimum disk

    missing = await _check(jp_fetch, {"iso": "/no/such.iso", "os": "nosuchos"})
    assert "does not exist" in missing["errors"]["iso"]
    assert "Unknown OS id 'nosuchos'" in missing["errors"]["os"]
    assert await _state(jp_fetch) == before


async def test_isos_lists_the_download_folder(jp_fetch, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KERNELSWITCH_ISO_DIR", str(tmp_path))
    (tmp_path / "a.iso").write_bytes(b"x" * 10)
    (tmp_path / "notes.txt").write_text("not an ISO")
    r = json.loads((await jp_fetch("kernelswitch", "api", "isos")).body)
    assert r["folder"] == str(tmp_path)
    assert r["isos"] == [
        {
            "name": "a.iso",
            "path": str(tmp_path / "a.iso"),
            "size": 10,
            "mtime": (tmp_path / "a.iso").stat().st_mtime,
        }
    ]


async def test_an_empty_check_is_a_clear_400(jp_fetch) -> None:
    from tornado.httpclient import HTTPClientError

    for body in ("", "{}"):
        with pytest.raises(HTTPClientError) as e:
            await jp_fetch("kernelswitch", "api", "vmspec", method="POST", body=body)
        assert e.value.code == 400
        assert "non-empty" in json.loads(e.value.response.body)["error"]["message"]


async def test_share_checks_answer_bad_paths_per_entry(jp_fetch, tmp_path: Path) -> None:
    """Every share entry gets its own answer; a path no OS could hold (a NUL,
    found by the API contract test) is one of them, never a 500."""
    answer = await _check(jp_fetch, {"shares": ["\u0000", f"{tmp_path}/missing:data"]})
    nul, missing = answer["shares"]
    assert "NUL character" in nul["error"], nul
    assert "does not exist" in missing["error"], missing
    assert answer["errors"]["shares"].startswith("Share 1 ")  # the first problem, named
    assert "NUL character" in answer["errors"]["shares"]
