"""Benchmark: a remote host's console through the SSH tunnel vs the same console locally (issue 21).

One guest (the test OS) on the "remote" host of the tests: a non-root user's
session libvirtd behind a private sshd on 127.0.0.1 (tests/remote/sshhost.py).
Because that host is this machine, the very same QEMU VNC socket can be read
two ways, with the same RFB client (ours, Raw encoding):

- ``local``: a direct connection to the domain's VNC unix socket, what a
  local console gets (``openGraphicsFD`` hands over the same kind of socket);
- ``tunnel``: what kernelswitch does for a remote domain: an SSH
  ``direct-streamlocal`` channel (asyncssh, pooled connection) to that socket.

Measured in rounds, alternating which goes first: updates/s while the guest
scrolls (``while true; do ls -l /bin; done``), then, with the guest idle,
keystroke -> next screen update latency (p50/p95). Printed: medians, the
tunnel/local ratios. The loopback SSH hop costs encryption and a second copy,
not network latency: a real remote host adds its round-trip time on top.

    python benchmarks/remote_console.py [--seconds 8] [--rounds 3] [--keys 20] [--json]

Needs root (it makes the ``ksremote`` user and runs an sshd); removes its VM,
the uploaded ISO, the sshd and the user's daemon at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import statistics
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

MARKER = "KERNELSWITCH-TESTOS-READY"
SCROLL = "while true; do ls -l /bin; done\n"
GUEST: dict[str, Any] = {"os": "alpinelinux3.17", "memory": "256M", "disk": "1G", "cpus": 1}


async def _open(kind: str, uri: str, path: str) -> Any:
    from kernelswitch.console.rfb import Handlers, RFBClient
    from kernelswitch.vm.hosts.tunnel import open_unix

    updated = asyncio.Event()
    handlers = Handlers(update=lambda rects: updated.set())
    if kind == "local":
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(path)
        client = await RFBClient.open(sock, handlers)
    else:
        client = await RFBClient.open(await open_unix(uri, path), handlers)
    client.updated = updated  # type: ignore[attr-defined]
    client.task = asyncio.create_task(client.run())  # type: ignore[attr-defined]
    client.want_updates(True)
    return client


async def _close(client: Any) -> None:
    client.close()
    await asyncio.gather(client.task, return_exceptions=True)


async def _rate(kind: str, uri: str, path: str, seconds: float) -> float:
    client = await _open(kind, uri, path)
    await asyncio.sleep(1.0)  # the first full frame
    u0, t0 = client.updates, time.monotonic()
    await asyncio.sleep(seconds)
    rate = (client.updates - u0) / (time.monotonic() - t0)
    await _close(client)
    return rate


async def _latency(kind: str, uri: str, path: str, keys: int) -> list[float]:
    from kernelswitch.console.keys import combo_events, text_events

    client = await _open(kind, uri, path)
    await asyncio.sleep(1.0)
    out = []
    for i in range(keys):
        # a letter then its erasure, so the prompt line never grows
        events = text_events("x") if i % 2 == 0 else combo_events("backspace")
        await asyncio.sleep(0.3)  # idle: no update in flight
        client.updated.clear()
        t0 = time.perf_counter()
        for qnum, keysym, down in events:
            client.key(qnum, keysym, down)
        await client.writer.drain()
        try:
            await asyncio.wait_for(client.updated.wait(), 5)
            out.append((time.perf_counter() - t0) * 1000)
        except asyncio.TimeoutError:
            pass
    await _close(client)
    return out


async def _type(uri: str, path: str, text: str) -> None:
    from kernelswitch.console.keys import combo_events, text_events

    client = await _open("tunnel", uri, path)
    events = combo_events("ctrl+c") if text == "^C" else text_events(text)
    for qnum, keysym, down in events:
        client.key(qnum, keysym, down)
        await client.writer.drain()
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.5)
    await _close(client)


def _pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))] if v else float("nan")


async def _measure(uri: str, path: str, seconds: float, rounds: int, keys: int) -> dict:
    from kernelswitch.vm.hosts.tunnel import close_all

    rates: dict[str, list[float]] = {"local": [], "tunnel": []}
    lat: dict[str, list[float]] = {"local": [], "tunnel": []}
    await _type(uri, path, SCROLL)
    for r in range(rounds):
        for kind in (["local", "tunnel"] if r % 2 == 0 else ["tunnel", "local"]):
            rates[kind].append(await _rate(kind, uri, path, seconds))
    await _type(uri, path, "^C")
    await asyncio.sleep(1.0)
    for r in range(rounds):
        for kind in (["local", "tunnel"] if r % 2 == 0 else ["tunnel", "local"]):
            lat[kind] += await _latency(kind, uri, path, keys)
    await close_all()
    out: dict[str, Any] = {}
    for kind in ("local", "tunnel"):
        out[kind] = {
            "updates_s": statistics.median(rates[kind]),
            "updates_s_range": [min(rates[kind]), max(rates[kind])],
            "latency_p50_ms": _pct(lat[kind], 0.5),
            "latency_p95_ms": _pct(lat[kind], 0.95),
            "latency_samples": len(lat[kind]),
        }
    out["ratio_updates"] = out["tunnel"]["updates_s"] / out["local"]["updates_s"]
    out["ratio_latency_p50"] = out["tunnel"]["latency_p50_ms"] / out["local"]["latency_p50_ms"]
    return out


def run(seconds: float, rounds: int, keys: int) -> dict[str, Any]:
    from remote.conftest import _ensure_pool, _sweep
    from remote.sshhost import SSHHost, kill_user_daemons
    from vm.conftest import SESSION_PREFIX

    from kernelswitch._paths import testos_dir
    from kernelswitch.vm.connection import get_connection
    from kernelswitch.vm.hosts.consoles import vnc_socket
    from kernelswitch.vm.manager import VMManager

    folder = Path(tempfile.mkdtemp(prefix="ks-remote-bench-"))
    host = SSHHost(folder)
    host.prepare()
    host.start()
    uri = host.uri()
    try:
        _ensure_pool(uri)
        name = f"{SESSION_PREFIX}bench-{uuid.uuid4().hex[:6]}"
        iso = folder / f"{name}.iso"
        shutil.copy(testos_dir() / "testos-plain.iso", iso)
        manager = VMManager(uri)
        info = manager.create(name, str(iso), **GUEST)
        deadline = time.monotonic() + 120
        while MARKER not in Path(info["serial_log"]).read_text(errors="replace"):
            if time.monotonic() > deadline:
                raise SystemExit("the benchmark guest did not boot within 120 s")
            time.sleep(0.3)
        xml = manager.connection.call(lambda c: c.lookupByName(name).XMLDesc(0))
        path = vnc_socket(xml)
        assert path, ET.fromstring(xml).find("./devices/graphics")
        return asyncio.run(_measure(uri, path, seconds, rounds, keys))
    finally:
        try:
            _sweep(uri)
        finally:
            get_connection(uri).close()
            host.stop()
            kill_user_daemons()
            shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--keys", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    r = run(args.seconds, args.rounds, args.keys)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"{'':8} {'updates/s':>10} {'(min-max)':>14} {'p50 ms':>8} {'p95 ms':>8}")
    for kind in ("local", "tunnel"):
        x = r[kind]
        lo, hi = x["updates_s_range"]
        print(f"{kind:8} {x['updates_s']:10.1f} {f'({lo:.1f}-{hi:.1f})':>14} "
              f"{x['latency_p50_ms']:8.1f} {x['latency_p95_ms']:8.1f}")  # fmt: skip
    print(f"tunnel/local: updates/s x{r['ratio_updates']:.2f}, "
          f"latency p50 x{r['ratio_latency_p50']:.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
