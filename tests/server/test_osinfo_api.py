"""Server layer: the OS list and ISO identification behind the create form."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

pytestmark = pytest.mark.server


@pytest.fixture
def jp_server_config() -> dict:
    return {"ServerApp": {"jpserver_extensions": {"kernelswitch": True}}}


def _iso(tmp_path: Path, volid: str) -> Path:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "README").write_text("kernelswitch test\n")
    out = tmp_path / f"{volid}.iso"
    subprocess.run(
        ["xorriso", "-as", "mkisofs", "-quiet", "-V", volid, "-o", str(out), str(src)],
        check=True,
    )
    return out


async def test_os_list_and_search(jp_fetch) -> None:
    everything = json.loads((await jp_fetch("kernelswitch", "api", "osinfo", "oses")).body)
    assert len(everything["oses"]) > 100
    assert everything["db"]["os_count"] == len(everything["oses"])
    found = json.loads(
        (await jp_fetch("kernelswitch", "api", "osinfo", "oses", params={"q": "fedora 37"})).body
    )
    assert "fedora37" in [o["short_id"] for o in found["oses"]]
    assert all("37" in o["short_id"] or "37" in o["name"] for o in found["oses"])


async def test_identify(jp_fetch, tmp_path: Path) -> None:
    fedora = _iso(tmp_path, "Fedora-WS-Live-37-1-7")
    plain = _iso(tmp_path, "TESTOS")
    r = await jp_fetch("kernelswitch", "api", "osinfo", "identify", params={"path": str(fedora)})
    assert json.loads(r.body)["os"]["short_id"] == "fedora37"
    r = await jp_fetch("kernelswitch", "api", "osinfo", "identify", params={"path": str(plain)})
    assert json.loads(r.body)["os"] is None


@pytest.mark.parametrize("path", ["", "/no/such.iso", "/tmp"])
async def test_identify_bad_path_is_a_clear_400(jp_fetch, path: str) -> None:
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("kernelswitch", "api", "osinfo", "identify", params={"path": path})
    assert e.value.code == 400
    err = json.loads(e.value.response.body)["error"]
    assert err["code"] == "invalid_vm_spec"
    assert "path" in err["message"] or "ISO" in err["message"]
