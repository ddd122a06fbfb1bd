"""Benchmark: kernelswitch's hot switch vs. JupyterLab's change-kernel (issue 8).

One server, one run, side by side (the two ways interleaved, so both see the
same load):

- **ours**: ``POST kernelswitch/api/kernels/{id}/env`` -> the first
  ``execute_reply`` from the new env, over the websocket that stays open;
- **JupyterLab's way**: ``PATCH /api/sessions/{id}`` with another kernelspec
  (the stock local provisioner) -> a new websocket to the new kernel -> the
  first ``execute_reply``;
- **pause**: the longest gap between replies of a client that executes
  ``1`` back to back while our switch runs (how long the kernel cannot execute);
- **failed switch downtime**: the same longest gap while a switch to an
  interpreter that exits at start fails, against a control window right
  after it with the same number of back-to-back executes and no switch
  (the longest of N gaps grows with N, so the control must have the same N);
  several trials, interleaved; downtime = median(ours) - median(control),
  with the spread of the per-trial differences. ~0 means "indistinguishable
  from no switch";
- **pre-started** (issue 20): the target selected first (``POST
  kernels/{id}/candidate``, its kernel starts while the user reads the
  comparison; not timed), then Apply -> the first ``execute_reply``;
  and the memory one waiting candidate costs (its process's RSS and PSS);
- **soak**: ``--soak N`` switches back and forth, printing the server's child
  processes, its open fds and the kernel's PATH length, which must stay flat.

    python benchmarks/switch.py [--repeat N] [--soak N] [--trials N] [--json]

Targets (2-core machine): ours <= 1.0x JupyterLab's change-kernel, a
pre-started Apply <= 0.25x, pause
<= 0.25 s, failed-switch downtime 0 s (<= 0.05 s of noise), soak flat.
Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the test suite's real-venv and websocket helpers

from kernels._client import Notebook, rest  # noqa: E402
from support.venvs import ipykernel_venv, make_venv  # noqa: E402

TARGET_RATIO = 1.0
TARGET_PRESTARTED = 0.25
TARGET_PAUSE = 0.25
TARGET_DOWNTIME = 0.05  # noise of a 2-core machine; a failed switch stops nothing


def _kernelspec(folder: Path, name: str, python: Path) -> None:
    d = folder / "kernels" / name
    d.mkdir(parents=True)
    (d / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": name, "language": "python",
        "metadata": {"kernel_provisioner": {"provisioner_name": "local-provisioner"}},
    }))  # fmt: skip


class Server:
    def __init__(self, root: Path, data: Path) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = open(root / "server.log", "wb")  # closed in stop()
        env = {**os.environ, "JUPYTER_PATH": str(data)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "server", "--no-browser", f"--port={self.port}",
             "--ip=127.0.0.1", f"--IdentityProvider.token={self.token}",
             f"--ServerApp.root_dir={root}", "--allow-root"],
            stdout=self.log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}api", timeout=5):
                    return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"server did not start, see {root / 'server.log'}") from None
                time.sleep(0.3)

    def children(self) -> int:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)],
                             capture_output=True, text=True)
        return len(out.stdout.split())

    def fds(self) -> int:
        """Open fds once settled: the fewest seen over 2 s (zmq closes sockets lazily)."""
        seen = []
        for _ in range(10):
            seen.append(len(os.listdir(f"/proc/{self.proc.pid}/fd")))
            time.sleep(0.2)
        return min(seen)

    def sockets_pipes(self) -> int:
        """Open sockets and pipes: what a leaked kernel connection or process holds.

        (The rest are zmq's internal eventfds, which its context reaps lazily:
        they go up and down between samples and are not a leak.)
        """
        fd_dir = f"/proc/{self.proc.pid}/fd"
        kinds = []
        for f in os.listdir(fd_dir):
            try:
                kinds.append(os.readlink(f"{fd_dir}/{f}").split(":")[0])
            except OSError:
                continue
        return sum(k in ("socket", "pipe") for k in kinds)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


async def _exec(nb: Notebook, code: str = "1") -> float:
    """Execute and wait for the shell reply only (what a ping needs); its time."""
    msg = nb._msg("execute_request", {"code": code, "silent": True, "store_history": False,
                                      "user_expressions": {}, "allow_stdin": False})
    await nb.ws.write_message(json.dumps(msg))
    while True:
        raw = await nb.ws.read_message()
        assert raw is not None, "the websocket closed"
        m = json.loads(raw)
        if m["channel"] == "shell" and m["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
            return time.monotonic()


class Ours:
    """Our switch, on a notebook whose websocket stays open."""

    def __init__(self, nb: Notebook, targets: list[str]) -> None:
        self.nb, self.targets, self.i = nb, targets, 0

    async def step(self) -> float:
        t0 = time.monotonic()
        code, ans = await self.nb.switch(self.targets[self.i % 2])
        assert code == 200, ans
        self.i += 1
        return await _exec(self.nb) - t0


class Prestarted:
    """Select (pre-start, untimed), then Apply: what the sidebar and picker do."""

    def __init__(self, nb: Notebook, targets: list[str]) -> None:
        self.nb, self.targets, self.i = nb, targets, 0
        self.memory: list[dict[str, int]] = []

    async def step(self) -> float:
        target = self.targets[self.i % 2]
        self.i += 1
        path = f"kernelswitch/api/kernels/{self.nb.kernel_id}/candidate"
        code, ans = await rest(self.nb.url, self.nb.token, "POST", path, {"target": target})
        assert code == 202, ans
        while (cand := (await rest(self.nb.url, self.nb.token, "GET", path))[1]["candidate"]
               )["state"] != "ready":
            assert cand["state"] == "starting", cand
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # the user reads the comparison; the candidate settles
        self.memory.append(_memory(cand["pid"]))
        t0 = time.monotonic()
        code, ans = await self.nb.switch(target)
        assert code == 200 and ans["prestarted"], ans
        return await _exec(self.nb) - t0


def _memory(pid: int) -> dict[str, int]:
    """RSS and PSS (shared pages split among their users) of a process, in kB."""
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, _, rest_ = line.partition(":")
        if key in ("Rss", "Pss"):
            out[key.lower() + "_kb"] = int(rest_.split()[0])
    return out


class JupyterLabWay:
    """PATCH the session to another kernelspec, reconnect, execute."""

    def __init__(self, srv: Server, names: list[str]) -> None:
        self.srv, self.names, self.i = srv, names, 0

    async def open(self) -> None:
        code, self.sess = await rest(self.srv.url, self.srv.token, "POST", "api/sessions", {
            "path": "anchor.ipynb", "type": "notebook", "name": "anchor.ipynb",
            "kernel": {"name": self.names[1]},
        })  # fmt: skip
        assert code == 201, self.sess
        self.nb = await Notebook.attach(self.srv.url, self.srv.token, self.sess["kernel"]["id"])
        await _exec(self.nb)

    async def step(self) -> float:
        t0 = time.monotonic()
        code, self.sess = await rest(self.srv.url, self.srv.token, "PATCH",
                                     f"api/sessions/{self.sess['id']}",
                                     {"kernel": {"name": self.names[self.i % 2]}})
        assert code == 200, self.sess
        self.i += 1
        self.nb.ws.close()
        self.nb = await Notebook.attach(self.srv.url, self.srv.token, self.sess["kernel"]["id"])
        return await _exec(self.nb) - t0

    async def close(self) -> None:
        self.nb.ws.close()
        await rest(self.srv.url, self.srv.token, "DELETE", f"api/sessions/{self.sess['id']}")


async def gaps_during(nb: Notebook, switch: Any) -> tuple[float, float, Any]:
    """(longest gap between replies while ``switch`` runs, usual gap, its answer)."""
    before = [await _exec(nb) for _ in range(20)]
    usual = statistics.median(b - a for a, b in itertools.pairwise(before))
    task = asyncio.ensure_future(switch)
    stamps = [time.monotonic()]
    while not task.done():
        stamps.append(await _exec(nb))
    for _ in range(5):  # after the swap: the new kernel answers
        stamps.append(await _exec(nb))
    longest = max(b - a for a, b in itertools.pairwise(stamps))
    return longest, usual, task.result()


async def longest_gap(nb: Notebook, n: int) -> float:
    """The control: the longest of ``n`` gaps between back-to-back replies."""
    stamps = [time.monotonic()]
    for _ in range(n):
        stamps.append(await _exec(nb))
    return max(b - a for a, b in itertools.pairwise(stamps))


async def failed_downtime(nb: Notebook, target: str, trials: int) -> dict[str, Any]:
    """Longest gap during a failing switch vs. a no-switch control of equal size."""
    ours, control = [], []
    for _ in range(trials):
        stamps = [time.monotonic()]
        task = asyncio.ensure_future(nb.switch(target))
        while not task.done():
            stamps.append(await _exec(nb))
        code, ans = task.result()
        assert code == 502, ans
        ours.append(max(b - a for a, b in itertools.pairwise(stamps)))
        control.append(await longest_gap(nb, len(stamps) - 1))
    diffs = sorted(a - b for a, b in zip(ours, control, strict=True))
    q = statistics.quantiles(diffs, n=4) if len(diffs) >= 2 else [diffs[0]] * 3
    return {
        "failed_longest_gap_s": ours, "control_longest_gap_s": control,
        "failed_switch_downtime_s": statistics.median(ours) - statistics.median(control),
        "downtime_spread_s": [q[0], q[2]],  # per-trial differences, interquartile
    }  # fmt: skip


async def soak(srv: Server, nb: Notebook, targets: list[str], n: int) -> list[dict[str, int]]:
    rows = []
    for i in range(n + 1):
        if i % max(1, n // 4) == 0 or i == n:
            await asyncio.sleep(1.0)  # let the old kernels finish retiring
            path = await nb.value("len(__import__('os').environ['PATH'].split(':'))")
            rows.append({"switches": i, "processes": srv.children(), "fds": srv.fds(),
                         "path_entries": path})
            rows[-1]["sockets_pipes"] = srv.sockets_pipes()
        if i < n:
            code, ans = await nb.switch(targets[i % 2])
            assert code == 200, ans
    return rows


async def run(repeat: int, n_soak: int, trials: int = 25) -> dict[str, Any]:
    from kernelswitch._paths import cache_dir

    tmp = Path(tempfile.mkdtemp(prefix="ks-bench-switch-"))
    native = ipykernel_venv(cache_dir())
    overlay = make_venv(tmp / "overlay-env")
    dying = make_venv(tmp / "dying-env")
    (dying / "bin" / "python").unlink()
    (dying / "bin" / "python").write_text("#!/bin/sh\nexit 3\n")
    (dying / "bin" / "python").chmod(0o755)
    data = tmp / "data"
    _kernelspec(data, "bench-server", Path(sys.executable))
    _kernelspec(data, "bench-native", native / "bin" / "python")
    srv = Server(tmp, data)
    try:
        # the same two interpreters for both ways: the server's and the ipykernel venv
        nb = await Notebook.open(srv.url, srv.token)
        await _exec(nb)
        ours = Ours(nb, [str(native), sys.executable])
        nb_pre = await Notebook.open(srv.url, srv.token)
        pre = Prestarted(nb_pre, [str(native), sys.executable])
        lab = JupyterLabWay(srv, ["bench-native", "bench-server"])
        await lab.open()
        for _ in range(2):  # warm caches (probe, imports) for all
            await ours.step()
            await pre.step()
            await lab.step()
        # interleaved, so the ways see the same load on a shared machine
        t_ours, t_pre, t_lab = [], [], []
        for _ in range(repeat):
            t_ours.append(await ours.step())
            t_pre.append(await pre.step())
            t_lab.append(await lab.step())
        await lab.close()
        await nb_pre.close()
        pause, usual, ans = await gaps_during(nb, nb.switch(str(overlay)))
        assert ans[0] == 200, ans
        await nb.switch(str(dying))  # warm: the first failure resolves the target
        failed = await failed_downtime(nb, str(dying), trials)
        rows = await soak(srv, nb, [str(native), str(overlay)], n_soak)
        await nb.close()
    finally:
        srv.stop()
    med_ours, med_lab = statistics.median(t_ours), statistics.median(t_lab)
    mem = pre.memory[2:]  # the timed steps
    return {
        "ours_s": t_ours, "jupyterlab_s": t_lab, "prestarted_s": t_pre,
        "ours_median_s": med_ours, "jupyterlab_median_s": med_lab,
        "ratio": med_ours / med_lab,
        "prestarted_median_s": statistics.median(t_pre),
        "prestarted_ratio": statistics.median(t_pre) / med_lab,
        "candidate_rss_kb": int(statistics.median(m["rss_kb"] for m in mem)),
        "candidate_pss_kb": int(statistics.median(m["pss_kb"] for m in mem)),
        "pause_s": pause, "usual_gap_s": usual,
        **failed,
        "soak": rows, "run_id": uuid.uuid4().hex[:8],
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=8, help="switches timed per way (default 8)")
    ap.add_argument("--soak", type=int, default=200, help="switches in the soak (default 200)")
    ap.add_argument("--trials", type=int, default=25,
                    help="failed switches (each with its control window) (default 25)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.repeat < 1 or args.soak < 0 or args.trials < 1:
        ap.error("--repeat and --trials must be >= 1 and --soak >= 0")
    res = asyncio.run(run(args.repeat, args.soak, args.trials))
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print("switch, ours (POST -> first execute_reply):      median "
              f"{res['ours_median_s']:.3f} s")
        print(f"change-kernel, JupyterLab's (PATCH session+ws):  median "
              f"{res['jupyterlab_median_s']:.3f} s")
        print(f"ratio ours / JupyterLab: {res['ratio']:.2f}x (target <= {TARGET_RATIO}x)")
        print("pre-started Apply (select, then POST -> first execute_reply): median "
              f"{res['prestarted_median_s']:.3f} s, {res['prestarted_ratio']:.2f}x JupyterLab's "
              f"(target <= {TARGET_PRESTARTED}x)")
        print(f"one waiting candidate costs RSS {res['candidate_rss_kb'] / 1024:.1f} MiB, "
              f"PSS {res['candidate_pss_kb'] / 1024:.1f} MiB")
        print(f"pause (kernel cannot execute): {res['pause_s']:.3f} s "
              f"(usual gap {res['usual_gap_s'] * 1000:.1f} ms; target <= {TARGET_PAUSE} s)")
        ms = [f"{x * 1000:.1f}" for x in res["downtime_spread_s"]]
        print("failed switch, longest gap: ours median "
              f"{statistics.median(res['failed_longest_gap_s']) * 1000:.1f} ms, control (no "
              f"switch, same count) {statistics.median(res['control_longest_gap_s']) * 1000:.1f}"
              f" ms over {len(res['control_longest_gap_s'])} trials")
        print(f"failed switch downtime (ours - control): "
              f"{res['failed_switch_downtime_s'] * 1000:.1f} ms, per-trial IQR [{ms[0]}, "
              f"{ms[1]}] ms (target 0 s, <= {TARGET_DOWNTIME} s)")
        print("soak: switches  processes  sockets+pipes  all fds  PATH entries")
        for r in res["soak"]:
            print(f"      {r['switches']:8d}  {r['processes']:9d}  {r['sockets_pipes']:13d}  "
                  f"{r['fds']:7d}  {r['path_entries']:12d}")
    rows = res["soak"]
    # a leaked kernel holds a process, sockets or pipes; zmq's eventfds come and go
    flat = all(
        (r["processes"], r["sockets_pipes"], r["path_entries"])
        == (rows[0]["processes"], rows[0]["sockets_pipes"], rows[0]["path_entries"])
        for r in rows
    )
    if not flat:
        print("soak: NOT flat (leak)")
    ok = (res["ratio"] <= TARGET_RATIO and res["pause_s"] <= TARGET_PAUSE
          and res["prestarted_ratio"] <= TARGET_PRESTARTED
          and res["failed_switch_downtime_s"] <= TARGET_DOWNTIME and flat)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
