"""Benchmark: the cost of live VM thumbnails per running VM (issue 17).

A real Jupyter server (subprocess) with kernelswitch, N running test-OS guests
whose screens change every second (``while true; date; sleep 1`` typed on
each console), and one events websocket client. Measured side by side, in
rounds, one window each in a rotating order:

- ``off``: the client connected, thumbnails not visible (nothing taken);
- ``ours``: the client says ``{"type": "thumbnails", "visible": true}``: the
  server takes a libvirt screenshot of each VM at most every 5 s, scales it to
  240 px and pushes ``thumbnail`` events, and the client fetches each new
  thumbnail (``GET vms/NAME/thumbnail``) as a browser would;
- ``virsh``: the anchor, a virt-manager-like periodic ``virsh screenshot`` of
  each VM every 5 s (a full-size PPM written to a file, not even scaled).

Printed: the server's CPU (``/proc/PID/stat``) per window, ours minus off per
running VM in cores (goal <= 0.02; divided by every running VM the server
sees, as it takes thumbnails of all of them: on a shared daemon that includes
other people's guests), the anchor's CPU (the virsh processes,
``RUSAGE_CHILDREN``) per VM, and the ratio ours / anchor. QEMU does the same
screendump for both, so its CPU is left out of both; it is printed too.

    python benchmarks/thumbnails.py [--vms 2] [--seconds 20] [--rounds 2] [--json]

The VMs and their disks are removed at the end. Exit status 1 when the goal is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
URI = "qemu:///session"
MARKER = "KERNELSWITCH-TESTOS-READY"
SHOT_EVERY = 5.0
GOAL = 0.02
MODES = ["off", "ours", "virsh"]
SMALL = {"os": "alpinelinux3.17", "memory": "256M", "disk": "1G", "cpus": 1}


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _qemu_pids(names: list[str]) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines()
            if any(f"guest={n}," in line for n in names)]  # fmt: skip


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class Bench:
    def __init__(self, server: Any, names: list[str]) -> None:
        self.server = server
        self.names = names
        self.thumbnails = 0

    async def api(self, method: str, path: str, body: Any = None) -> Any:
        from tornado.httpclient import AsyncHTTPClient, HTTPRequest

        req = HTTPRequest(
            f"{self.server.url}kernelswitch/api/{path}", method=method,
            headers={"Authorization": f"token {self.server.token}"},
            body=None if body is None else json.dumps(body), request_timeout=300,
        )  # fmt: skip
        resp = await AsyncHTTPClient().fetch(req)
        return json.loads(resp.body) if resp.body else None

    async def listen(self, ws: Any) -> None:
        from tornado.httpclient import AsyncHTTPClient

        while (raw := await ws.read_message()) is not None:
            msg = json.loads(raw)
            if msg.get("type") == "thumbnail":
                self.thumbnails += 1
                await AsyncHTTPClient().fetch(
                    f"{self.server.url}kernelswitch/api/vms/{msg['name']}/thumbnail",
                    headers={"Authorization": f"token {self.server.token}"}, raise_error=False)

    async def window(self, mode: str, ws: Any, seconds: float) -> dict[str, float]:
        qemu = _qemu_pids(self.names)
        pid = self.server.proc.pid
        ws.write_message(json.dumps({"type": "thumbnails", "visible": mode == "ours"}))
        await asyncio.sleep(1.0)  # the switch settles
        listed = (await self.api("GET", "vms"))["vms"]
        running = sum(v["state"] in ("running", "blocked", "paused") for v in listed)
        shots0 = self.thumbnails
        t0, s0, c0 = time.monotonic(), _cpu_seconds(pid), _children_cpu()
        q0 = sum(_cpu_seconds(p) for p in qemu)
        if mode == "virsh":
            await self._virsh(seconds)
        else:
            await asyncio.sleep(seconds)
        wall = time.monotonic() - t0
        server = (_cpu_seconds(pid) - s0) / wall
        anchor = (_children_cpu() - c0) / wall
        qemu_cpu = (sum(_cpu_seconds(p) for p in qemu) - q0) / wall
        ws.write_message(json.dumps({"type": "thumbnails", "visible": False}))
        return {"server": server, "anchor": anchor, "qemu": qemu_cpu, "running": running,
                "thumbnails": self.thumbnails - shots0, "wall": wall}  # fmt: skip

    async def _virsh(self, seconds: float) -> None:
        """``virsh screenshot`` of every VM every SHOT_EVERY s (virt-manager's way)."""
        end = time.monotonic() + seconds
        with tempfile.TemporaryDirectory() as tmp:
            while time.monotonic() < end:
                started = time.monotonic()
                for n in self.names:
                    proc = await asyncio.create_subprocess_exec(
                        "virsh", "-c", URI, "screenshot", n, f"{tmp}/{n}.ppm",
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
                    await proc.wait()
                left = min(SHOT_EVERY - (time.monotonic() - started), end - time.monotonic())
                if left > 0:
                    await asyncio.sleep(left)


async def _make_vms(bench: Bench, iso: Path) -> None:
    for name in bench.names:
        await bench.api("POST", "vms", {"name": name, "iso": str(iso), **SMALL})
    for name in bench.names:
        info = await bench.api("GET", f"vms/{name}")
        deadline = time.monotonic() + 180
        while MARKER not in Path(info["serial_log"]).read_text(errors="replace"):
            if time.monotonic() > deadline:
                raise SystemExit(f"{name} did not boot within 180 s")
            await asyncio.sleep(0.5)
        text = "while true; do date; sleep 1; done\n"  # the screen changes every second
        await bench.api("POST", f"vms/{name}/console/input", {"text": text})


async def run(args: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, str(REPO / "tests"))
    from support.jupyter import jupyter_server
    from tornado.websocket import websocket_connect

    from kernelswitch._paths import testos_dir

    iso = testos_dir() / "testos-plain.iso"
    if not iso.is_file():
        raise SystemExit(f"test OS missing: {iso} (bash scripts/build-testos.sh)")
    tag = uuid.uuid4().hex[:4]
    names = [f"kstvm-bench-thumb-{tag}-{i}" for i in range(args.vms)]
    rounds: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
    with tempfile.TemporaryDirectory() as tmp, jupyter_server(Path(tmp)) as server:
        bench = Bench(server, names)
        try:
            await _make_vms(bench, iso)
            url = server.url.replace("http", "ws", 1) + "kernelswitch/api/events"
            ws = await websocket_connect(f"{url}?token={server.token}")
            listener = asyncio.ensure_future(bench.listen(ws))
            # the consoles the typing opened linger 10 s: after that, screenshots only
            await asyncio.sleep(12)
            for r in range(args.rounds):
                order = MODES[r % len(MODES) :] + MODES[: r % len(MODES)]
                for mode in order:
                    res = await bench.window(mode, ws, args.seconds)
                    rounds[mode].append(res)
                    print(f"round {r + 1} {mode:5s}: {res['running']} running, "
                          f"server {res['server']:.4f} core, "
                          f"virsh {res['anchor']:.4f}, qemu {res['qemu']:.3f}, "
                          f"{res['thumbnails']} thumbnails in {res['wall']:.1f} s",
                          file=sys.stderr)  # fmt: skip
            listener.cancel()
            ws.close()
        finally:
            for name in names:
                try:
                    await bench.api("DELETE", f"vms/{name}?force=1&disks=1")
                except Exception as e:
                    print(f"could not delete {name}: {e}", file=sys.stderr)

    def med(mode: str, key: str) -> float:
        return statistics.median(x[key] for x in rounds[mode])

    running = max(args.vms, min(int(x["running"]) for x in rounds["ours"]))
    ours = max(0.0, med("ours", "server") - med("off", "server")) / running
    anchor = med("virsh", "anchor") / args.vms
    return {
        "vms": args.vms, "running": running, "seconds": args.seconds, "rounds": args.rounds,
        "server_off": med("off", "server"), "server_ours": med("ours", "server"),
        "ours_per_vm": ours, "virsh_per_vm": anchor,
        "ratio": ours / anchor if anchor else None,
        "qemu_ours_per_vm": (med("ours", "qemu") - med("off", "qemu")) / args.vms,
        "qemu_virsh_per_vm": (med("virsh", "qemu") - med("off", "qemu")) / args.vms,
        "thumbnails_per_vm_per_minute": med("ours", "thumbnails") / running
        * 60 / args.seconds,
        "goal": GOAL, "ok": ours <= GOAL,
    }  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--vms", type=int, default=2)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    out = asyncio.run(run(args))
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(
            f"thumbnails, {out['vms']} test VMs ({out['running']} running on the daemon), "
            f"{out['rounds']} rounds of "
            f"{out['seconds']:g} s (medians):"
        )
        print(
            f"  server CPU: {out['server_off']:.4f} core without, "
            f"{out['server_ours']:.4f} with thumbnails"
        )
        print(
            f"  ours:  {out['ours_per_vm']:.4f} core per running VM "
            f"({out['thumbnails_per_vm_per_minute']:.1f} thumbnails/min each; goal <= {GOAL})"
        )
        print(
            f"  virsh screenshot every {SHOT_EVERY:g} s (anchor): "
            f"{out['virsh_per_vm']:.4f} core per VM"
        )
        if out["ratio"] is not None:
            print(f"  ratio ours / anchor: {out['ratio']:.2f}")
        print(f"  QEMU's screendumps (both ways): ours +{out['qemu_ours_per_vm']:.4f}, "
              f"virsh +{out['qemu_virsh_per_vm']:.4f} core per VM")  # fmt: skip
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
