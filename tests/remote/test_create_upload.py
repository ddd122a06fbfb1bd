"""``%vm create --host`` and ``kernelswitch vm create --host`` with an ISO on the
server: uploaded into the remote host's pool first with a progress bar, then
the VM made from the uploaded volume; requests that would fail are refused
before anything is uploaded (bad path, unreachable host), with the reason.

Real parts: a jupyter_server with kernelswitch on this host, the SSH host and a
configured host nobody answers on; the magics in a real IPython shell; the CLI
as a subprocess.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from support.jupyter import RunningServer, free_port, jupyter_server
from support.shell import kernelswitch_shell

from .conftest import LOCAL, POOL_DIR, host_alias, two_host_env
from .sshhost import SSHHost

#: Fedora 37's minimums; defined only (nothing here boots, the qcow2 disk stays small)
SIZES = "--memory 1G --disk 10G --cpus 1 --no-start"
#: The test OS labelled as Fedora 37: libosinfo identifies it on the server
FEDORA = "testos-fedora.iso"


@pytest.fixture(scope="module")
def down_uri(ssh_host: SSHHost) -> str:
    """A configured remote host where no sshd listens."""
    return ssh_host.uri().replace(f"127.0.0.1:{ssh_host.port}/", f"127.0.0.1:{free_port()}/")


@pytest.fixture(scope="module")
def server(ssh_host: SSHHost, down_uri: str,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:  # fmt: skip
    base = tmp_path_factory.mktemp("upload-hosts")
    root = base / "root"
    root.mkdir()
    env = two_host_env(base, ssh_host, root, uris=[LOCAL, ssh_host.uri(), down_uri])
    with jupyter_server(root, env=env) as srv:
        yield srv


@pytest.fixture
def ip(server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    return kernelswitch_shell(server, monkeypatch)


def _server_iso(tmp_path: Path, tag: str, source: str = FEDORA) -> tuple[str, Path]:
    """(VM name, an ISO of this session's own name on the server) for one test."""
    from vm.conftest import unique_name

    from kernelswitch._paths import testos_dir

    name = unique_name(tag)
    tmp_path.chmod(0o755)
    iso = tmp_path / f"{name}.iso"
    shutil.copy(testos_dir() / source, iso)
    return name, iso


def _cli_create(name: str, iso: Path, ssh_host: SSHHost) -> subprocess.CompletedProcess[str]:
    """``kernelswitch vm create`` on the remote host, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "kernelswitch.cli", "vm", "create", name, "--iso", str(iso),
         "--host", ssh_host.uri(), *SIZES.split()],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def _remote(ssh_host: SSHHost) -> Any:
    from kernelswitch.vm.manager import VMManager

    return VMManager(ssh_host.uri())


def _pool_volumes() -> list[str]:
    return sorted(p.name for p in POOL_DIR.iterdir())


def test_magic_uploads_with_a_bar_then_creates_from_the_upload(
    ip: Any, ssh_host: SSHHost, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    name, iso = _server_iso(tmp_path, "upmagic")
    ip.run_line_magic("vm", f"create {name} --iso {iso} --host {host_alias(ssh_host)} {SIZES}")
    out = capsys.readouterr().out
    bars = re.findall(rf"Uploading {re.escape(iso.name)} \[[#.]+\]\s+(\d+)%", out)
    assert bars and bars[0] == "0" and bars[-1] == "100", out
    assert [int(b) for b in bars] == sorted(int(b) for b in bars), out  # only forward
    assert f"Creating VM '{name}'" in out, out
    info = _remote(ssh_host).info(name)
    # made from the uploaded volume in the host's pool, the OS identified from the server's file
    assert [m["path"] for m in info["media"]] == [str(POOL_DIR / iso.name)], info["media"]
    assert info["os_id"].endswith("fedora/37"), info["os_id"]
    assert info["state"] == "shutoff"


def test_cli_uploads_with_a_bar_then_creates_from_the_upload(
    ssh_host: SSHHost, tmp_path: Path
) -> None:
    name, iso = _server_iso(tmp_path, "upcli")
    done = _cli_create(name, iso, ssh_host)
    assert done.returncode == 0, done.stderr
    what = re.escape(f"uploading {iso.name} to {host_alias(ssh_host)}")
    bars = re.findall(rf"{what} \[[#.]+\]\s+(\d+)%", done.stderr)
    assert bars and bars[-1] == "100", done.stderr
    assert [int(b) for b in bars] == sorted(int(b) for b in bars), done.stderr
    info = _remote(ssh_host).info(name)
    assert [m["path"] for m in info["media"]] == [str(POOL_DIR / iso.name)], info["media"]
    assert info["os_id"].endswith("fedora/37"), info["os_id"]


def test_a_missing_iso_is_refused_before_any_upload(
    ip: Any, ssh_host: SSHHost, tmp_path: Path
) -> None:
    name, _ = _server_iso(tmp_path, "upbad")
    missing = tmp_path / "no-such.iso"
    before = _pool_volumes()
    with pytest.raises(UsageError) as e:
        ip.run_line_magic("vm", f"create {name} --iso {missing} --host {host_alias(ssh_host)} "
                          f"{SIZES}")  # fmt: skip
    assert str(missing) in str(e.value) and "does not exist" in str(e.value), e.value
    done = _cli_create(name, missing, ssh_host)
    assert done.returncode != 0 and str(missing) in done.stderr, done.stderr
    assert "uploading" not in done.stderr, done.stderr
    assert _pool_volumes() == before
    assert name not in _remote(ssh_host).names()


def test_an_unreachable_host_is_named_before_any_upload(
    ip: Any, ssh_host: SSHHost, down_uri: str, capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:  # fmt: skip
    name, iso = _server_iso(tmp_path, "updown")
    port = down_uri.split("127.0.0.1:", 1)[1].split("/", 1)[0]
    with pytest.raises(UsageError) as e:
        ip.run_line_magic("vm", f"create {name} --iso {iso} --host ksremote@127.0.0.1:{port} "
                          f"{SIZES}")  # fmt: skip
    assert f"127.0.0.1:{port}" in str(e.value), e.value
    assert "Uploading" not in capsys.readouterr().out


def test_an_iso_larger_than_the_pool_is_refused_before_any_upload(
    ip: Any, ssh_host: SSHHost, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    name, iso = _server_iso(tmp_path, "upfull")
    with iso.open("r+b") as f:  # the test OS's header, then a hole: 2 TiB on no disk
        f.truncate(2 * 1024**4)
    before = _pool_volumes()
    with pytest.raises(UsageError) as e:
        ip.run_line_magic("vm", f"create {name} --iso {iso} --host {host_alias(ssh_host)} "
                          f"{SIZES}")  # fmt: skip
    assert "2T" in str(e.value) and "free" in str(e.value), e.value
    assert "Nothing was uploaded" in str(e.value), e.value
    assert "Uploading" not in capsys.readouterr().out
    done = _cli_create(name, iso, ssh_host)
    assert done.returncode != 0 and "2T" in done.stderr and "free" in done.stderr, done.stderr
    assert "uploading" not in done.stderr, done.stderr
    assert _pool_volumes() == before
    assert name not in _remote(ssh_host).names()
