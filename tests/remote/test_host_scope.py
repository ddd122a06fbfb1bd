"""What depends on which host a VM is on, through the real REST API with a real
remote host (a user's session daemon behind our own sshd) beside the local one:

- one operation lock per (uri, name), whether the VM is named bare or with ?uri=;
- shares and port forwards refused on a remote VM with the reason (400), and
  the form's check (POST vmspec) saying so for shares, checking the host's ISOs;
- an ISO uploaded into the host's pool as a job with progress;
- the accelerator of a remote create chosen from that host's capabilities;
- vm info of a remote VM never reading a local file for its serial log.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from kernelswitch.vm.hosts.refs import ref

from .conftest import GUEST, host_alias, remote_shutoff_vm, two_host_server_config
from .sshhost import SSHHost


@pytest.fixture(scope="module")
def remote_off(ssh_host: SSHHost, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A shut-off VM on the remote host, from an ISO uploaded there (never booted)."""
    return remote_shutoff_vm(ssh_host, tmp_path_factory, "scope")


@pytest.fixture
def jp_server_config(ssh_host: SSHHost) -> dict:
    return two_host_server_config(ssh_host)


async def _error(jp_fetch: Any, *path: str, **kw: Any) -> tuple[int, dict]:
    from tornado.httpclient import HTTPClientError

    with pytest.raises(HTTPClientError) as e:
        await jp_fetch(*path, **kw)
    return e.value.code, json.loads(e.value.response.body)["error"]


async def test_one_lock_per_vm_whether_named_bare_or_with_its_host(
    jp_fetch: Any, jp_serverapp: Any, remote_off: dict, ssh_host: SSHHost
) -> None:
    name = remote_off["name"]
    fleet = jp_serverapp.web_app.settings["kernelswitch_app"].vm_manager
    bare = await fleet.lock_key(name)
    assert bare == ref(name, ssh_host.uri())  # the one host that has it
    assert await fleet.lock_key(ref(name, host_alias(ssh_host))) == bare
    assert await fleet.lock_key(ref(name, ssh_host.uri())) == bare
    # held through the bare name: a start through ?uri= waits, then is refused
    async with fleet.operation(name, "a test's hold"):
        code, err = await _error(jp_fetch, "kernelswitch", "api", "vms", name, "start",
                                 method="POST", body="{}",
                                 params={"uri": host_alias(ssh_host)})  # fmt: skip
    assert code == 409 and err["code"] == "vm_busy", err
    assert err["details"]["busy_with"] == "a test's hold"
    # and the other way round: held with its host named, the bare name is busy too
    async with fleet.operation(ref(name, ssh_host.uri()), "another hold"):
        code, err = await _error(jp_fetch, "kernelswitch", "api", "vms", name, "snapshots",
                                 method="POST", body=json.dumps({"name": "s1"}))  # fmt: skip
    assert code == 409 and err["details"]["busy_with"] == "another hold", err


@pytest.fixture
def share_dir() -> Any:
    """A folder the hypervisor's user may read (pytest's own tmp folders are 0700)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="ks-share-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


async def test_shares_and_forwards_say_they_do_not_apply_on_a_remote_host(
    jp_fetch: Any, remote_off: dict, ssh_host: SSHHost, share_dir: Path
) -> None:
    name, alias = remote_off["name"], host_alias(ssh_host)
    tmp_path = share_dir
    code, err = await _error(jp_fetch, "kernelswitch", "api", "vms", name, "shares",
                             method="POST", body=json.dumps({"dir": str(tmp_path)}),
                             params={"uri": alias})  # fmt: skip
    assert code == 400 and err["code"] == "not_on_remote_host", err
    assert "do not apply on a remote host" in err["message"] and alias in err["message"]
    code, err = await _error(jp_fetch, "kernelswitch", "api", "vms", name, "forwards",
                             method="POST", body=json.dumps({"host_port": 18123, "guest_port": 80}),
                             params={"uri": alias})  # fmt: skip
    assert code == 400 and err["code"] == "not_on_remote_host", err
    assert "Port forwards do not apply" in err["message"]
    # a create there with a share: refused before anything is made
    create = {"name": f"{name}-x", "iso": f"{name}.iso", "uri": alias,
              "shares": [str(tmp_path)], **GUEST}  # fmt: skip
    code, err = await _error(jp_fetch, "kernelswitch", "api", "vms", method="POST",
                             body=json.dumps(create))  # fmt: skip
    assert code == 400 and err["code"] == "not_on_remote_host", err
    listed = json.loads((await jp_fetch("kernelswitch", "api", "vms")).body)["vms"]
    assert f"{name}-x" not in {v["name"] for v in listed}

    # the form's check: shares refused for that host, checked for the local one
    async def spec(body: dict) -> dict:
        res = await jp_fetch("kernelswitch", "api", "vmspec", method="POST", body=json.dumps(body))
        return json.loads(res.body)

    there = await spec({"uri": alias, "shares": [str(tmp_path)]})
    assert "do not apply on a remote host" in there["errors"]["shares"]
    here = await spec({"shares": [str(tmp_path), "/no/such/folder:x"]})
    assert [s["error"] is None for s in here["shares"]] == [True, False], here["shares"]
    assert "does not exist" in here["shares"][1]["error"]
    # the host's own ISO: found in its pool; its OS must be said (not identifiable from here)
    pool = await spec({"uri": alias, "iso": f"{name}.iso", "name": f"{name}-y"})
    assert pool["in_pool"] and pool["remote"] is True and "choose its OS" in pool["errors"]["os"]
    ok = await spec({"uri": alias, "iso": f"{name}.iso", "name": f"{name}-y",
                     "os": "alpinelinux3.17"})  # fmt: skip
    assert ok["ok"] is True and ok["errors"] == {}, ok


async def test_an_iso_is_uploaded_to_a_host_as_a_job_with_progress(
    jp_fetch: Any, ssh_host: SSHHost, tmp_path: Path
) -> None:
    from vm.conftest import unique_name

    from kernelswitch._paths import testos_dir

    there = host_alias(ssh_host)
    iso = tmp_path / f"{unique_name('up')}.iso"
    shutil.copy(testos_dir() / "testos-plain.iso", iso)
    tmp_path.chmod(0o755)
    res = await jp_fetch("kernelswitch", "api", "isos", "upload", method="POST",
                         body=json.dumps({"iso": str(iso), "uri": there}))  # fmt: skip
    assert res.code == 202
    job = json.loads(res.body)
    assert res.headers["Location"].endswith(f"/isos/uploads/{job['id']}")
    assert job["total"] == iso.stat().st_size
    seen = [job["done"]]
    for _ in range(600):
        if job["state"] != "running":
            break
        await asyncio.sleep(0.1)
        job = json.loads((await jp_fetch("kernelswitch", "api", "isos", "uploads", job["id"])).body)
        seen.append(job["done"])
    assert job["state"] == "done", job
    assert job["done"] == job["total"] and job["path"].endswith(iso.name)
    assert seen == sorted(seen)  # progress only goes forward
    isos = json.loads((await jp_fetch("kernelswitch", "api", "isos",
                                      params={"uri": there})).body)["isos"]  # fmt: skip
    assert any(i["path"] == job["path"] and i["where"] == "host" for i in isos)
    # the local host reads ISOs where they are: nothing to upload
    code, err = await _error(jp_fetch, "kernelswitch", "api", "isos", "upload", method="POST",
                             body=json.dumps({"iso": str(iso), "uri": "local"}))  # fmt: skip
    assert code == 400 and "nothing is uploaded" in err["message"]


def test_remote_create_takes_its_accelerator_from_that_host(remote_off: dict) -> None:
    # the "remote" user is not in group kvm: its daemon offers no KVM, so TCG
    accel = remote_off["accel"]
    assert accel["method"] == "host-caps", accel
    assert accel["domain_type"] == "qemu" and remote_off["type"] == "qemu"
    assert "offers no KVM" in accel["reason"] and "ksremote@127.0.0.1" in accel["reason"]


async def test_remote_info_says_where_the_serial_log_is_without_reading_it_here(
    jp_fetch: Any, remote_off: dict, ssh_host: SSHHost
) -> None:
    from kernelswitch.kernelside.vm_grammar import Result, format_human

    alias = host_alias(ssh_host)
    info = json.loads((await jp_fetch("kernelswitch", "api", "vms", remote_off["name"],
                                      params={"uri": alias})).body)  # fmt: skip
    log = info["serial_log"]
    assert log and info["serial_host"] == alias and info["serial_tail"] == []
    # a local file at that very path (this test's "remote" is this machine) is not read
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    had = Path(log).exists()
    if not had:
        Path(log).write_text("LOCAL FILE, NOT THE GUEST'S\n")
    try:
        again = json.loads((await jp_fetch("kernelswitch", "api", "vms", remote_off["name"],
                                           params={"uri": alias})).body)  # fmt: skip
        assert again["serial_tail"] == []
    finally:
        if not had:
            Path(log).unlink()
    text = format_human(Result("info", info), prog="%vm")
    assert f"{log} on host {alias} (not read from here)" in text


def test_the_command_line_says_shares_and_forwards_do_not_apply_there(
    remote_off: dict, ssh_host: SSHHost, share_dir: Path
) -> None:
    import subprocess
    import sys

    def vm(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kernelswitch.cli", "vm", *args,
                               "--host", ssh_host.uri()],
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    shared = vm("share", remote_off["name"], str(share_dir))
    assert shared.returncode != 0
    assert "Shared folders do not apply on a remote host" in shared.stderr + shared.stdout
    forwarded = vm("forward", remote_off["name"], "18124:80")
    assert forwarded.returncode != 0
    assert "Port forwards do not apply on a remote host" in forwarded.stderr + forwarded.stdout
