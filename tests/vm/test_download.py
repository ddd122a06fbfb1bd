"""ISO catalogue and download against a local HTTP server on 127.0.0.1.

``KERNELSWITCH_ISO_MIRROR`` points the catalogue's URLs at the server
(``{mirror}/{host}{path}``), which serves the test OS image with HTTP Range
support and can cut a response short once, like a dropped connection.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from .conftest import unique_name

pytestmark = pytest.mark.vm

DEBIAN = "debian11"  # media 0: an x86_64 netinst URL, no volume size in the db
DEBIAN_URL = (
    "https://cdimage.debian.org/cdimage/release/11.5.0/amd64/iso-cd/debian-11.5.0-amd64-netinst.iso"
)

#: Named per medium: OS, arch, a hash of the catalogue URL, the URL's basename.
DEBIAN_FILE = (
    f"debian11-x86_64-{hashlib.sha256(DEBIAN_URL.encode()).hexdigest()[:8]}-"
    "debian-11.5.0-amd64-netinst.iso"
)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    files: dict[str, bytes]
    requests: list[tuple[str, str | None]]
    cut_next: int | None  # send only this many bytes of the next response, then drop it
    slow: float  # seconds to wait before each body (so concurrent downloads overlap)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        rng = self.headers.get("Range")
        self.server.requests.append((self.path, rng))
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if m:
            start = int(m.group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        time.sleep(self.server.slow)
        cut, self.server.cut_next = self.server.cut_next, None
        payload = body[start:] if cut is None else body[start : start + cut]
        try:
            self.wfile.write(payload)
        except OSError:
            pass
        if cut is not None:
            self.close_connection = True


@pytest.fixture(scope="module")
def iso_bytes(testos: dict) -> bytes:
    return Path(testos["plain"]).read_bytes()


@pytest.fixture(scope="module")
def server(iso_bytes: bytes) -> Iterator[_Server]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    path = urlsplit(DEBIAN_URL)
    srv.files = {f"/{path.netloc}{path.path}": iso_bytes}
    srv.requests, srv.cut_next, srv.slow = [], None, 0.0
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def iso_dir(vm_manager: Any) -> Iterator[Path]:
    """A folder beside the pool (the hypervisor can read it), removed afterwards."""
    folder = Path(vm_manager.storage.pool_path()).parent / f"{unique_name('isos')}"
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def mirror(server: _Server, iso_dir: Path, monkeypatch: pytest.MonkeyPatch) -> _Server:
    monkeypatch.setenv("KERNELSWITCH_ISO_MIRROR", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("KERNELSWITCH_ISO_DIR", str(iso_dir))
    server.requests.clear()
    return server


def test_catalog_lists_media_with_urls() -> None:
    from kernelswitch.vm.catalog import catalog

    rows = catalog("debian11 x86_64")
    assert DEBIAN_URL in [r["url"] for r in rows]
    assert all(r["os"] == "debian11" and r["arch"] == "x86_64" for r in rows)
    assert catalog("no-such-os-anywhere") == []


def test_download_resumes_after_a_cut_and_is_usable(
    mirror: _Server, iso_dir: Path, iso_bytes: bytes, vm_manager: Any
) -> None:
    mirror.cut_next = len(iso_bytes) // 3
    seen: list[tuple[int, int | None]] = []
    result = vm_manager.download(DEBIAN, progress=lambda d, t: seen.append((d, t)))
    path = Path(result["path"])
    assert path.parent == iso_dir and path.name == DEBIAN_FILE
    assert path.read_bytes() == iso_bytes
    assert not path.with_name(path.name + ".part").exists()
    # the second request asked only for the rest
    assert [r for _p, r in mirror.requests] == [None, f"bytes={len(iso_bytes) // 3}-"]
    assert result["resumed"] and "length" in result["checked"]
    done = [d for d, _t in seen]
    assert done == sorted(done) and seen[-1] == (len(iso_bytes), len(iso_bytes))

    # a second call finds it there (checked, not fetched again)
    again = vm_manager.download(DEBIAN)
    assert again["already_there"] and len(mirror.requests) == 2

    # ... and `vm create --iso` takes it
    name = unique_name("dl")
    info = vm_manager.create(name, str(path), os="debian11", memory="1G", disk="10G",
                             start=False)  # fmt: skip
    try:
        assert [m["path"] for m in info["media"]] == [str(path)]
    finally:
        vm_manager.delete(name, disks=True)


def test_checksum_mismatch_removes_the_file(
    mirror: _Server, iso_dir: Path, iso_bytes: bytes, vm_manager: Any
) -> None:
    from kernelswitch.vm.errors import DownloadError

    with pytest.raises(DownloadError, match="SHA-256") as e:
        vm_manager.download(DEBIAN, sha256="0" * 64)
    assert "removed" in e.value.message
    assert list(iso_dir.iterdir()) == []
    good = hashlib.sha256(iso_bytes).hexdigest()
    result = vm_manager.download(DEBIAN, sha256=good.upper())
    assert "sha256" in result["checked"] and result["sha256"] == good


def test_volume_size_from_the_database_is_checked(
    mirror: _Server, iso_dir: Path, iso_bytes: bytes, vm_manager: Any
) -> None:
    """A medium the database knows the ISO size of: a short file is refused and removed."""
    from kernelswitch.vm.catalog import catalog
    from kernelswitch.vm.errors import DownloadError

    media = next(r for r in catalog("x86_64") if r["volume_size"])
    url = urlsplit(media["url"])
    mirror.files[f"/{url.netloc}{url.path}"] = iso_bytes
    with pytest.raises(DownloadError, match="volume size"):
        vm_manager.download(media["os"], index=media["index"])
    assert list(iso_dir.iterdir()) == []


def test_bad_requests_change_nothing(
    mirror: _Server, iso_dir: Path, vm_manager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kernelswitch.vm.errors import DownloadError, InvalidVMSpec

    with pytest.raises(InvalidVMSpec, match="debian11"):  # a close match is suggested
        vm_manager.download("debian111")
    with pytest.raises(InvalidVMSpec, match="64 hexadecimal"):
        vm_manager.download(DEBIAN, sha256="abc")
    with pytest.raises(InvalidVMSpec, match="no sparc"):
        vm_manager.download(DEBIAN, arch="sparc")
    assert mirror.requests == []

    from support.jupyter import free_port

    monkeypatch.setenv("KERNELSWITCH_ISO_MIRROR", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(DownloadError, match=r"Cannot reach 127\.0\.0\.1") as e:
        vm_manager.download(DEBIAN)
    assert "run the same command again" in e.value.message
    assert not iso_dir.exists() or list(iso_dir.iterdir()) == []


#: NetBSD's media: index 1 is the x86_64 ``.../cdrom/boot.iso``, index 4 the i686 one.
BOOT_X86_64, BOOT_I686 = 1, 4


def _serve_boot_isos(mirror: _Server, iso_bytes: bytes, *wanted: tuple[str, int]) -> dict:
    """Serve NetBSD media that all end in ``boot.iso``, each with its own bytes
    (padded to the volume size the database expects)."""
    from kernelswitch.vm.catalog import find_media

    media = {}
    for n, (os_id, index) in enumerate(wanted):
        m = find_media(os_id, index=index)
        assert m["url"].endswith("/boot.iso") and m["volume_size"]
        body = iso_bytes + bytes([n + 1]) * (m["volume_size"] - len(iso_bytes))
        url = urlsplit(m["url"])
        mirror.files[f"/{url.netloc}{url.path}"] = body
        media[(os_id, index)] = (m, body)
    return media


def test_media_sharing_a_basename_never_answer_for_each_other(
    mirror: _Server, iso_dir: Path, iso_bytes: bytes, vm_manager: Any
) -> None:
    """Issue 15: netbsd6.1 then netbsd6.0 (both ``.../boot.iso``): the second is
    downloaded, not ``already_there`` with the first one's bytes."""
    one, zero = ("netbsd6.1", BOOT_X86_64), ("netbsd6.0", BOOT_X86_64)
    media = _serve_boot_isos(mirror, iso_bytes, one, zero)
    first = vm_manager.download("netbsd6.1", index=BOOT_X86_64)
    second = vm_manager.download("netbsd6.0", index=BOOT_X86_64)
    assert not first["already_there"] and not second["already_there"]
    assert first["path"] != second["path"]
    for result, key in ((first, one), (second, zero)):
        path = Path(result["path"])
        assert path.name.startswith(f"{key[0]}-x86_64-") and path.name.endswith("-boot.iso")
        assert path.read_bytes() == media[key][1]
    # the same medium: found, not fetched
    again = vm_manager.download("netbsd6.0", index=BOOT_X86_64)
    assert again["already_there"] and again["path"] == second["path"]
    assert sorted(p.name for p in iso_dir.iterdir()) == sorted(
        Path(r["path"]).name for r in (first, second)
    )  # no .part, no lock file left


def test_concurrent_downloads_sharing_a_basename_each_get_their_own(
    mirror: _Server, iso_dir: Path, iso_bytes: bytes
) -> None:
    """Two background jobs of one OS, two arches, both ``boot.iso``, at once (they
    used to be one job, or one reported the other's file and the other failed on
    a missing ``.part``); and two jobs for one medium fetch it once."""
    from kernelswitch.vm.download import DownloadJobs

    indexes = (BOOT_X86_64, BOOT_I686)
    media = _serve_boot_isos(mirror, iso_bytes, *(("netbsd6.0", i) for i in indexes))
    mirror.slow = 0.5
    jobs = DownloadJobs()
    started = [jobs.start("netbsd6.0", index=i, dest_dir=iso_dir) for i in indexes]
    assert started[0]["id"] != started[1]["id"]
    assert jobs.start("netbsd6.0", index=BOOT_X86_64, dest_dir=iso_dir)["id"] == started[0]["id"]
    deadline = time.monotonic() + 120
    while any(jobs.status(j["id"])["state"] == "running" for j in started):
        assert time.monotonic() < deadline, [jobs.status(j["id"]) for j in started]
        time.sleep(0.2)
    results = [jobs.status(j["id"]) for j in started]
    assert [r["state"] for r in results] == ["done", "done"], results
    for r, i in zip(results, indexes, strict=True):
        assert Path(r["result"]["path"]).read_bytes() == media[("netbsd6.0", i)][1]

    # the same medium from two threads (CLI and server would be two processes:
    # the lock is a file lock): one fetch, the other finds it when the lock frees
    for p in iso_dir.iterdir():
        p.unlink()
    mirror.requests.clear()
    from kernelswitch.vm.download import download

    answers: list[dict] = []
    threads = [
        threading.Thread(
            target=lambda: answers.append(
                download("netbsd6.0", index=BOOT_X86_64, dest_dir=iso_dir)
            )
        )
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(a["already_there"] for a in answers) == [False, True]
    assert len({a["path"] for a in answers}) == 1 and len(mirror.requests) == 1
    assert Path(answers[0]["path"]).read_bytes() == media[("netbsd6.0", BOOT_X86_64)][1]


def test_cli_download_shows_a_progress_bar(mirror: _Server, iso_dir: Path) -> None:
    env = {**os.environ}
    out = subprocess.run(
        [sys.executable, "-m", "kernelswitch.cli", "vm", "download", DEBIAN],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "100%" in out.stderr and "[" + "#" * 30 + "]" in out.stderr
    assert out.stdout.startswith(f"Downloaded {iso_dir}/{DEBIAN_FILE}")
    assert "kernelswitch vm create NAME --iso" in out.stdout
    listing = subprocess.run(
        [sys.executable, "-m", "kernelswitch.cli", "vm", "catalog", "debian11", "--json"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert DEBIAN_URL in [m["url"] for m in json.loads(listing.stdout)]
    bad = subprocess.run(
        [sys.executable, "-m", "kernelswitch.cli", "vm", "download", "nosuch-os"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1
    assert "kernelswitch vm catalog QUERY" in bad.stderr



@pytest.fixture
def jp_server_config() -> dict:
    return {"ServerApp": {"jpserver_extensions": {"kernelswitch": True}}}


@pytest.mark.server
async def test_rest_background_download_polled_with_progress(
    jp_serverapp: Any, jp_fetch: Any, mirror: _Server, iso_dir: Path, iso_bytes: bytes
) -> None:
    """What ``%vm download`` does: start a job, poll it, draw a bar from (done, total)."""
    import asyncio

    from tornado.httpclient import HTTPClientError

    from kernelswitch.kernelside.client import Server
    from kernelswitch.kernelside.vm_grammar import RESTBackend, build_parser, run

    with pytest.raises(HTTPClientError) as e:  # bad input: refused before any job exists
        await jp_fetch("kernelswitch", "api", "isos", "download", method="POST",
                       body=json.dumps({"os": "nosuchos", "background": True}))  # fmt: skip
    assert e.value.code == 400 and mirror.requests == []

    server = Server(jp_serverapp.connection_url, jp_serverapp.identity_provider.token)
    backend = RESTBackend(server)
    seen: list[tuple[int, int | None]] = []
    backend.download_progress = lambda d, t: seen.append((d, t))
    args = build_parser("%vm").parse_args(["download", DEBIAN])
    result = await asyncio.to_thread(run, args, backend)
    assert Path(result.data["path"]).read_bytes() == iso_bytes
    assert seen[-1] == (len(iso_bytes), len(iso_bytes))
    from kernelswitch.kernelside.vm_manage_grammar import bar_text

    assert bar_text(*seen[-1]).startswith("[" + "#" * 30 + "] 100%")
