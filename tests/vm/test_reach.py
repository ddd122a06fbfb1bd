"""Reaching a real guest: serial terminal, shared folder, port forward (issue 19).

One test-OS guest, made with a shared folder, serves the whole module (each
boot costs ~11 s under TCG); the tests run in file order and the last one
reboots it. The guest runs a shell on its serial port (``testos# ``), takes a
DHCP lease on QEMU's user network and has busybox httpd.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import socket
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tornado.websocket
from support.jp import jp_call, jp_error
from support.jupyter import free_port
from tornado.httpclient import HTTPClientError
from tornado.websocket import WebSocketClientConnection

from .conftest import unique_name, wait_serial

pytestmark = [pytest.mark.vm, pytest.mark.server]

PROMPT = "testos# "


@pytest.fixture
def jp_server_config() -> dict:
    return {"ServerApp": {"jpserver_extensions": {"kernelswitch": True}}}


@pytest.fixture(scope="module")
def host_dir() -> Iterator[Path]:
    # not under pytest's tmp folder: pytest keeps that 0700, and the hypervisor's
    # user must be able to read a shared folder
    d = Path(tempfile.mkdtemp(prefix="ks-reach-share-"))
    d.chmod(0o755)
    (d / "hello.txt").write_text(f"FROM-THE-HOST-{secrets.token_hex(3)}\n")
    (d / "hello.txt").chmod(0o644)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def reach_vm(vm_manager: Any, testos: dict, test_limits: Any, host_dir: Path) -> Iterator[dict]:
    name = unique_name("reach")
    # hostdata as `--share DIR:TAG` gives it; ro read-only (the REST API's form)
    shares = [f"{host_dir}:hostdata", {"dir": str(host_dir), "tag": "ro", "readonly": True}]
    info = vm_manager.create(name, str(testos["fedora"]), limits=test_limits, shares=shares)
    wait_serial(info["serial_log"])
    wait_serial(info["serial_log"], PROMPT)
    yield info
    try:
        vm_manager.delete(name, disks=True, force=True)
    except Exception:
        pass


async def _serial(jp_ws_fetch: Any, name: str) -> WebSocketClientConnection:
    return await jp_ws_fetch("kernelswitch", "api", "vms", name, "serial")


async def _read_until(
    ws: WebSocketClientConnection, needle: str, timeout: float = 60.0, seen: list | None = None
) -> str:
    """Output (and status messages, into *seen*) until *needle* appears in the output."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    text = ""
    seen = [] if seen is None else seen
    while needle not in text:
        try:
            msg = await asyncio.wait_for(ws.read_message(), max(deadline - loop.time(), 0.01))
        except asyncio.TimeoutError:
            raise AssertionError(f"{needle!r} not on the serial websocket in {timeout:g} s: "
                                 f"{text[-800:]!r}; status: {seen}") from None  # fmt: skip
        if msg is None:
            raise AssertionError(f"serial websocket closed waiting for {needle!r}")
        if isinstance(msg, bytes):
            text += msg.decode(errors="replace")
        else:
            seen.append(json.loads(msg))
    return text


async def _run(
    ws: WebSocketClientConnection, command: str, timeout: float = 60.0, seen: list | None = None
) -> str:
    """Run *command* in the guest's serial shell; what it printed between two markers."""
    tag = secrets.token_hex(3)
    await ws.write_message(json.dumps(
        # quoted, so the typed line (echoed back) does not contain the markers
        {"type": "input", "data": f"echo 'B'{tag}; {command}; echo 'E'{tag}\n"}))  # fmt: skip
    text = await _read_until(ws, f"E{tag}\r\n", timeout, seen)
    start, end = text.rfind(f"B{tag}\r\n"), text.rfind(f"E{tag}\r\n")
    assert 0 <= start < end, f"no output of {command!r} between its markers: {text[-800:]!r}"
    return text[start + 8 : end]


async def test_serial_websocket_runs_a_command(jp_ws_fetch: Any, reach_vm: dict) -> None:
    ws = await _serial(jp_ws_fetch, reach_vm["name"])
    seen: list[dict] = []
    # a new viewer gets the recent output first: the boot marker is in it
    await _read_until(ws, "KERNELSWITCH-TESTOS-READY", seen=seen)
    assert (await _run(ws, "echo $((6 * 7))x", seen=seen)).strip() == "42x"
    assert {"type": "status", "state": "connected", "message": ""} in seen
    # a second viewer of the same port sees what the first one typed
    other = await _serial(jp_ws_fetch, reach_vm["name"])
    await _read_until(other, "42x")
    ws.close()
    other.close()


async def test_serial_websocket_auth_and_origin(
    jp_ws_fetch: Any, jp_http_port: int, jp_base_url: str, reach_vm: dict
) -> None:
    name = reach_vm["name"]
    with pytest.raises(HTTPClientError) as e:
        await jp_ws_fetch("kernelswitch", "api", "vms", "kstvm-no-such-vm", "serial")
    assert e.value.code == 404
    with pytest.raises(HTTPClientError) as e:
        await jp_ws_fetch("kernelswitch", "api", "vms", name, "serial",
                          headers={"Origin": "http://evil.example"})  # fmt: skip
    assert e.value.code == 403
    url = f"ws://localhost:{jp_http_port}{jp_base_url}kernelswitch/api/vms/{name}/serial"
    with pytest.raises(HTTPClientError) as e:
        await tornado.websocket.websocket_connect(url)  # no token
    assert e.value.code == 403


async def test_share_is_read_in_the_guest(
    jp_fetch: Any, jp_ws_fetch: Any, reach_vm: dict, host_dir: Path
) -> None:
    name = reach_vm["name"]
    _, listing = await jp_call(jp_fetch, "GET", "vms", name, "shares")
    share = next(s for s in listing["shares"] if s["tag"] == "hostdata")
    assert share["dir"] == str(host_dir) and share["readonly"] is False
    assert share["mount"] == "mkdir -p /mnt/hostdata && mount -t virtiofs hostdata /mnt/hostdata"
    _, info = await jp_call(jp_fetch, "GET", "vms", name)
    assert info["shares"] == listing["shares"]
    ws = await _serial(jp_ws_fetch, name)
    out = await _run(ws, f"{share['mount']} && cat /mnt/hostdata/hello.txt")
    assert (host_dir / "hello.txt").read_text().strip() in out
    ws.close()


async def test_bad_share_paths_are_refused(
    jp_fetch: Any, reach_vm: dict, host_dir: Path, vm_manager: Any
) -> None:
    name = reach_vm["name"]
    cases = {
        str(host_dir / "no-such-folder"): "does not exist",
        str(host_dir / "hello.txt"): "is not a folder",
        str(vm_manager.storage.pool_path()): "disk pool",
        "/": "disk pool",  # above the pool: every VM's disks
    }
    for path, words in cases.items():
        code, err = await jp_error(jp_fetch, "POST", "vms", name, "shares", body={"dir": path})
        assert code == 400 and words in err["message"], (path, err)
    code, err = await jp_error(jp_fetch, "POST", "vms", name, "shares",
                               body={"dir": str(host_dir), "tag": "hostdata"})  # fmt: skip
    assert code == 400 and "already shares" in err["message"]
    _, listing = await jp_call(jp_fetch, "GET", "vms", name, "shares")
    assert len(listing["shares"]) == 2  # nothing changed


async def test_share_added_to_the_running_guest_is_there_now(
    jp_fetch: Any, jp_ws_fetch: Any, reach_vm: dict, host_dir: Path
) -> None:
    """A spare PCIe root port (q35, as virt-install leaves) takes the hot-plugged
    share: the answer says "now" and the running guest mounts it at once."""
    name = reach_vm["name"]
    _, out = await jp_call(jp_fetch, "POST", "vms", name, "shares",
                           body={"dir": str(host_dir), "tag": "live"})  # fmt: skip
    assert out["applies"] == "now", out
    ws = await _serial(jp_ws_fetch, name)
    assert out["mount"] == "mkdir -p /mnt/live && mount -t virtiofs live /mnt/live"
    text = await _run(ws, f"{out['mount']} && cat /mnt/live/hello.txt; umount /mnt/live")
    ws.close()
    assert (host_dir / "hello.txt").read_text().strip() in text
    _, gone = await jp_call(jp_fetch, "DELETE", "vms", name, "shares", "live")
    assert "live" not in {s["tag"] for s in gone["shares"]}, gone


async def test_readonly_share_refuses_writes_in_the_guest(
    jp_fetch: Any, jp_ws_fetch: Any, reach_vm: dict, host_dir: Path
) -> None:
    name = reach_vm["name"]
    _, listing = await jp_call(jp_fetch, "GET", "vms", name, "shares")
    assert {s["tag"]: s["readonly"] for s in listing["shares"]} == {"hostdata": False, "ro": True}
    ws = await _serial(jp_ws_fetch, name)
    # mounted the ordinary way (no -o ro in the guest): the host side refuses writes
    text = await _run(ws, "mkdir -p /mnt/ro && mount -t virtiofs ro /mnt/ro && "
                          "cat /mnt/ro/hello.txt; echo new > /mnt/ro/new.txt; "
                          "rm /mnt/ro/hello.txt; umount /mnt/ro")  # fmt: skip
    ws.close()
    assert (host_dir / "hello.txt").read_text().strip() in text  # reading works
    assert text.count("Read-only file system") == 2, text  # both writes failed: EROFS
    assert not (host_dir / "new.txt").exists() and (host_dir / "hello.txt").exists()
    # the read-only view lives in the daemon's own mount namespace, not the host's
    assert str(host_dir) not in Path("/proc/self/mountinfo").read_text()


async def test_forward_reaches_a_guest_service(
    jp_fetch: Any, jp_ws_fetch: Any, reach_vm: dict
) -> None:
    name = reach_vm["name"]
    port = free_port()
    resp, out = await jp_call(jp_fetch, "POST", "vms", name, "forwards",
                              body={"host_port": port, "guest_port": 8080})  # fmt: skip
    assert resp.code == 201
    assert out["applies"] == "now" and out["method"] == "hostfwd" and "taint" in out["note"]
    assert out["forwards"] == [{"proto": "tcp", "host_addr": "127.0.0.1", "host_port": port,
                                "guest_port": 8080, "active": True}]  # fmt: skip
    ws = await _serial(jp_ws_fetch, name)
    page = f"GUEST-WEB-{secrets.token_hex(3)}"
    await _run(ws, f"mkdir -p /www && echo {page} > /www/index.html")
    await _run(ws, "httpd -p 8080 -h /www")
    ws.close()

    def get() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=20) as r:
            return r.read().decode()

    assert (await asyncio.to_thread(get)).strip() == page
    _, info = await jp_call(jp_fetch, "GET", "vms", name)
    assert [f["host_port"] for f in info["forwards"]] == [port]


async def test_busy_port_is_refused_naming_its_holder(jp_fetch: Any, reach_vm: dict) -> None:
    name = reach_vm["name"]
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        code, err = await jp_error(jp_fetch, "POST", "vms", name, "forwards",
                                   body={"host_port": port, "guest_port": 22})  # fmt: skip
    assert code == 409
    assert f"{port}/tcp" in err["message"] and "pid" in err["message"]
    assert err["details"]["holder"].endswith(f"(pid {__import__('os').getpid()})")
    _, out = await jp_call(jp_fetch, "GET", "vms", name, "forwards")
    assert port not in [f["host_port"] for f in out["forwards"]]


async def test_python_serial_expects_a_prompt(
    jp_fetch: Any, jp_serverapp: Any, jp_http_port: int, jp_base_url: str, reach_vm: dict,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kernelswitch.widgets import Serial, SerialTimeout

    # (jp_fetch makes pytest_jupyter's server listen; the kernel side calls it over HTTP)
    monkeypatch.setenv("KERNELSWITCH_URL", f"http://127.0.0.1:{jp_http_port}{jp_base_url}")
    monkeypatch.setenv("KERNELSWITCH_TOKEN", jp_serverapp.identity_provider.token)

    def script() -> tuple[str, str, str]:
        s = Serial(reach_vm["name"])
        s.send("\n")
        s.expect(PROMPT, timeout=30)
        s.send("echo $((3 + 4))z\n")
        m = s.expect(r"(\d+)z\r\n", timeout=30)
        s.expect(PROMPT, timeout=30)
        s.send("echo read-me\n")
        s.expect("read-me\r\n", timeout=30)  # the echo of the typed line
        s.expect(PROMPT, timeout=30)
        rest = s.read()
        try:
            s.expect("never-printed", timeout=1)
        except SerialTimeout as e:
            return m.group(1), rest, str(e)
        raise AssertionError("expect did not time out")

    value, _rest, timeout_message = await asyncio.to_thread(script)
    assert value == "7"
    assert "never-printed" in timeout_message and "within 1 s" in timeout_message


def _console_of_our_own(libvirt_conn: Any, name: str) -> Any:
    """The VM's console opened by a client of our own, without forcing (as plain
    `virsh console`); libvirt refuses while another client (our server) holds it."""
    import libvirt

    stream = libvirt_conn.newStream(0)
    try:
        libvirt_conn.lookupByName(name).openConsole(None, stream, 0)
    except libvirt.libvirtError:
        with contextlib.suppress(libvirt.libvirtError):
            stream.abort()
        raise
    return stream


async def test_idle_serial_session_closes_and_reopens(
    jp_ws_fetch: Any, jp_serverapp: Any, jp_http_port: int, jp_base_url: str, reach_vm: dict,
    libvirt_conn: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    import libvirt

    from kernelswitch.vm.guest.serial import IDLE_CLOSE
    from kernelswitch.widgets import Serial

    monkeypatch.setenv("KERNELSWITCH_URL", f"http://127.0.0.1:{jp_http_port}{jp_base_url}")
    monkeypatch.setenv("KERNELSWITCH_TOKEN", jp_serverapp.identity_provider.token)
    name = reach_vm["name"]
    ws = await _serial(jp_ws_fetch, name)
    assert (await _run(ws, "echo before-$((1 + 1))")).strip() == "before-2"
    script = await asyncio.to_thread(Serial, name)  # reads from here on, then waits
    ws.close()
    left = asyncio.get_running_loop().time()
    # the last viewer left: for the grace period the server still holds the console
    with pytest.raises(libvirt.libvirtError, match=r"(?i)console"):
        await asyncio.to_thread(_console_of_our_own, libvirt_conn, name)
    # ... then it closes its libvirt stream: another client opens it without forcing
    deadline = left + IDLE_CLOSE + 20
    while True:
        try:
            ours = await asyncio.to_thread(_console_of_our_own, libvirt_conn, name)
            break
        except libvirt.libvirtError as e:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(
                    f"the server still holds the console {IDLE_CLOSE + 20:g} s after its last "
                    f"viewer left: {e}"
                ) from e
            await asyncio.sleep(1)
    assert asyncio.get_running_loop().time() - left >= IDLE_CLOSE - 1  # not before the grace
    # the guest prints while the server does not listen (only the log has it)
    await asyncio.to_thread(ours.send, b"echo away-$((20 + 22))\n")
    await asyncio.to_thread(wait_serial, reach_vm["serial_log"], "away-42", 1, 30)
    await asyncio.to_thread(ours.abort)
    # the script's next call reopens it and gets what it missed (from the log): its
    # place in the output stayed valid while the stream was closed
    await asyncio.to_thread(script.expect, "away-42\r\n", 30)
    # a new viewer gets it too (from the backlog), then live output
    again = await _serial(jp_ws_fetch, name)
    await _read_until(again, "away-42\r\n")
    assert (await _run(again, "echo after-$((2 + 2))")).strip() == "after-4"
    again.close()


async def test_serial_and_forwards_survive_reboot_and_restart(
    jp_fetch: Any, jp_ws_fetch: Any, reach_vm: dict
) -> None:
    name = reach_vm["name"]
    log = Path(reach_vm["serial_log"])
    ws = await _serial(jp_ws_fetch, name)
    await _read_until(ws, PROMPT)
    # a reboot inside the guest: the same QEMU, the same pty, the stream goes on
    await ws.write_message(json.dumps({"type": "input", "data": "reboot -f\n"}))
    await _read_until(ws, "KERNELSWITCH-TESTOS-READY", timeout=120)
    await asyncio.to_thread(wait_serial, log, "KERNELSWITCH-TESTOS-READY", 2)
    await _read_until(ws, PROMPT)
    assert (await _run(ws, "echo after-reboot")).strip() == "after-reboot"

    # a restart (new QEMU, new pty): the session reconnects, the forward comes back
    _, before = await jp_call(jp_fetch, "GET", "vms", name, "forwards")
    seen: list[dict] = []
    await jp_call(jp_fetch, "POST", "vms", name, "destroy")
    from kernelswitch.vm.guest.readonly import WRAPPER

    Path(WRAPPER).unlink()  # the read-only share's helper: a start puts it back
    await jp_call(jp_fetch, "POST", "vms", name, "start")
    assert Path(WRAPPER).is_file()
    await _read_until(ws, "KERNELSWITCH-TESTOS-READY", timeout=120, seen=seen)
    states = [m["state"] for m in seen if m["type"] == "status"]
    assert "stopped" in states and states[-1] == "connected", states
    # a new QEMU starts a new log (as a file serial port did): this boot's, whole
    text = await asyncio.to_thread(wait_serial, log, "KERNELSWITCH-TESTOS-READY", 1)
    assert "after-reboot" not in text
    _, after = await jp_call(jp_fetch, "GET", "vms", name, "forwards")
    assert after["forwards"] and after["forwards"] == before["forwards"]
    assert all(f["active"] for f in after["forwards"])
    ws.close()
