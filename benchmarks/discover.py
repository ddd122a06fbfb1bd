"""Benchmark: file-based discovery vs. spawning every interpreter (issue 3).

Builds a tree of 1,000 venvs (venv, virtualenv and uv-style ``pyvenv.cfg``),
20 conda-style envs and 10 pyenv-style versions inside a 5-level tree of more
than 20,000 unrelated directories (with deep ``node_modules``), then prints,
side by side: cold discovery, warm discovery, interpreter spawns made during
discovery, and the per-env cost of the spawn-every-interpreter approach
measured on a sample of real venvs, with the ratio.

    python benchmarks/discover.py [--tree DIR] [--repeat N] [--sample N] [--json]

Targets (2-core machine): cold <= 0.5 s, warm <= 10 ms, 0 spawns,
>= 50x cheaper per env than spawning. Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

N_VENVS = 1000
N_CONDA = 20
N_PYENV = 10
PY = f"{sys.version_info.major}.{sys.version_info.minor}"
PYFULL = f"{PY}.{sys.version_info.micro}"

TARGET_COLD = 0.5
TARGET_WARM = 0.010
TARGET_RATIO = 50.0

# What a spawn-based discoverer asks each interpreter (version, prefix, ipykernel).
SPAWN_CODE = (
    "import sys, json, importlib.util; print(json.dumps({'version': sys.version, "
    "'prefix': sys.prefix, 'ipykernel': importlib.util.find_spec('ipykernel') is not None}))"
)


def _mk(path: Path, text: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if text is not None:
        path.write_text(text)


def _venv(path: Path, style: int) -> None:
    home = os.path.dirname(sys.executable)
    if style == 0:  # python -m venv
        cfg = f"home = {home}\ninclude-system-site-packages = false\nversion = {PYFULL}\n"
    elif style == 1:  # virtualenv
        cfg = (f"home = {home}\nimplementation = CPython\nversion_info = {PYFULL}.final.0\n"
               "virtualenv = 20.26.3\ninclude-system-site-packages = false\n")
    else:  # uv
        cfg = (f"home = {home}\nimplementation = CPython\nuv = 0.4.18\n"
               f"version_info = {PYFULL}\ninclude-system-site-packages = false\n")
    _mk(path / "pyvenv.cfg", cfg)
    (path / "bin").mkdir()
    (path / "bin" / "python").symlink_to(sys.executable)
    site = path / "lib" / f"python{PY}" / "site-packages"
    site.mkdir(parents=True)
    for name in ("pip-24.2.dist-info", "pip", "_virtualenv.py"):
        (site / name).mkdir() if "." not in name or name.endswith("dist-info") else _mk(
            site / name, "")


def build_tree(root: Path) -> dict[str, int]:
    """The benchmark tree; returns what it holds."""
    counts = {"venv": 0, "conda": 0, "pyenv": 0, "dirs": 0, "node_modules_dirs": 0}
    slots: list[Path] = []
    for t in range(20):
        for a in range(10):
            for b in range(10):
                base = root / f"t{t}" / f"a{a}" / f"b{b}"
                for c in range(5):
                    (base / f"c{c}" / "d0").mkdir(parents=True)
                    (base / f"c{c}" / "README.md").write_text("")
                    counts["dirs"] += 2
                slots.append(base)
    counts["dirs"] += 20 + 200 + 2000
    for i, base in enumerate(slots[:N_VENVS]):
        _venv(base / ".venv", i % 3)
        counts["venv"] += 1
    # deep node_modules in some projects: pruned, never listed
    for i, base in enumerate(slots[N_VENVS : N_VENVS + 200]):
        nm = base / "node_modules"
        for p in range(10):
            (nm / f"pkg{p}" / "node_modules" / f"dep{i}" / "lib" / "x").mkdir(parents=True)
            counts["node_modules_dirs"] += 5
    conda = root / "t0" / "miniconda3"
    for k in range(N_CONDA):
        env = conda if k == 0 else conda / "envs" / f"env{k}"
        _mk(env / "conda-meta" / f"python-{PYFULL}-h955ad1f_0.json", "{}")
        _mk(env / "conda-meta" / "history", "")
        (env / "bin").mkdir(parents=True, exist_ok=True)
        (env / "bin" / "python").symlink_to(sys.executable)
        (env / "lib" / f"python{PY}" / "site-packages" / "numpy").mkdir(parents=True)
        counts["conda"] += 1
    for k in range(N_PYENV):
        v = root / ".pyenv" / "versions" / f"3.{k + 3}.{k}"
        (v / "bin").mkdir(parents=True)
        (v / "bin" / "python3").symlink_to(sys.executable)
        (v / "lib" / f"python3.{k + 3}" / "site-packages").mkdir(parents=True)
        counts["pyenv"] += 1
    return counts


def _real_venvs(root: Path, n: int) -> list[Path]:
    out = []
    for i in range(n):
        p = root / f"real{i}"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(p)], check=True)
        out.append(p)
    return out


class SpawnCounter:
    """Counts process creation through Python's audit events."""

    EVENTS = frozenset({"subprocess.Popen", "os.posix_spawn", "os.exec", "os.system",
                        "os.spawn", "os.fork", "os.forkpty"})

    def __init__(self) -> None:
        self.active = False
        self.count = 0
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if self.active and event in self.EVENTS:
            self.count += 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", help="build (or reuse) the tree here instead of a temp dir")
    ap.add_argument("--repeat", type=int, default=5, help="runs per measurement (median)")
    ap.add_argument("--sample", type=int, default=8, help="real venvs spawned per run")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="ks-bench-"))
    tree = Path(args.tree) if args.tree else work / "tree"
    t = time.perf_counter()
    marker = tree / ".built"
    if not marker.exists():
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir(parents=True)
        counts = build_tree(tree)
        marker.write_text(json.dumps(counts))
    counts = json.loads(marker.read_text())
    build_s = time.perf_counter() - t

    # Only the tree counts: an empty home, no tool variables, the tree's pyenv.
    home = work / "home"
    home.mkdir()
    os.environ["HOME"] = str(home)
    for var in ("WORKON_HOME", "CONDA_PREFIX", "CONDA_EXE", "XDG_DATA_HOME", "XDG_CACHE_HOME",
                "POETRY_VIRTUALENVS_PATH", "HATCH_DATA_DIR", "UV_PYTHON_INSTALL_DIR"):
        os.environ.pop(var, None)
    os.environ["PYENV_ROOT"] = str(tree / ".pyenv")

    from kernelswitch.envs import _discovery, _probe, discover

    spawns = SpawnCounter()

    def cold() -> tuple[float, Any]:
        os.environ["KERNELSWITCH_CACHE"] = tempfile.mkdtemp(dir=work, prefix="cache-")
        _discovery.forget_walks()
        _probe._cache = _probe.ProbeCache()
        spawns.active = True
        t0 = time.perf_counter()
        res = discover(roots=[tree], depth=5, budget=30)
        dt = time.perf_counter() - t0
        spawns.active = False
        return dt, res

    cold_runs = [cold() for _ in range(args.repeat)]
    cold_s = statistics.median(dt for dt, _ in cold_runs)
    result = cold_runs[-1][1]
    in_tree = [e for e in result.envs if e.prefix.startswith(str(tree))]
    spawns.active = True
    warm_runs = []
    for _ in range(max(args.repeat, 10)):
        t0 = time.perf_counter()
        warm = discover(roots=[tree], depth=5, budget=30)
        warm_runs.append(time.perf_counter() - t0)
    spawns.active = False
    warm_s = statistics.median(warm_runs)
    assert len(warm.envs) == len(result.envs)

    # A fresh process with the disk cache: memory caches dropped, file kept.
    disk_runs = []
    for _ in range(args.repeat):
        _discovery.forget_walks()
        _probe._cache = _probe.ProbeCache()
        t0 = time.perf_counter()
        discover(roots=[tree], depth=5, budget=30)
        disk_runs.append(time.perf_counter() - t0)
    disk_s = statistics.median(disk_runs)

    # Spawn every interpreter vs. read its files, on the same sample of real venvs.
    sample_root = work / "sample"
    sample = _real_venvs(sample_root, args.sample)
    spawn_times = []
    for _ in range(max(1, args.repeat // 2)):
        for v in sample:
            t0 = time.perf_counter()
            subprocess.run([str(v / "bin" / "python"), "-I", "-c", SPAWN_CODE],
                           check=True, capture_output=True)
            spawn_times.append(time.perf_counter() - t0)
    spawn_per_env = statistics.median(spawn_times)
    # conservative file cost: the whole cold scan (walk of 20k+ dirs included) per env found
    file_per_env = cold_s / max(1, len(in_tree))
    sample_runs = []
    for _ in range(args.repeat):
        os.environ["KERNELSWITCH_CACHE"] = tempfile.mkdtemp(dir=work, prefix="cache-")
        _discovery.forget_walks()
        _probe._cache = _probe.ProbeCache()
        t0 = time.perf_counter()
        discover(roots=[sample_root], depth=1, budget=30)
        sample_runs.append(time.perf_counter() - t0)
    ratio = spawn_per_env / file_per_env

    by_kind: dict[str, int] = {}
    for e in in_tree:
        by_kind[e.kind] = by_kind.get(e.kind, 0) + 1
    report = {
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "tree": {**counts, "found_in_tree": len(in_tree), "by_kind": by_kind,
                 "build_s": round(build_s, 2)},
        "cold_s": round(cold_s, 4),
        "warm_s": round(warm_s, 5),
        "disk_warm_s": round(disk_s, 4),
        "spawns": spawns.count,
        "partial": result.partial,
        "file_per_env_ms": round(file_per_env * 1e3, 4),
        "spawn_per_env_ms": round(spawn_per_env * 1e3, 2),
        "sample_discovery_s": round(statistics.median(sample_runs), 4),
        "ratio": round(ratio, 1),
        "ok": {
            "cold": cold_s <= TARGET_COLD,
            "warm": warm_s <= TARGET_WARM,
            "spawns": spawns.count == 0,
            "ratio": ratio >= TARGET_RATIO,
            "all_found": len(in_tree) == N_VENVS + N_CONDA + N_PYENV,
        },
    }
    shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        ok = report["ok"]

        def mark(flag: bool) -> str:
            return "ok" if flag else "MISSED"

        print(f"kernelswitch discovery benchmark — Python {report['python']}, "
              f"{report['cpus']} CPUs")
        print(f"tree: {counts['venv']} venvs (venv/virtualenv/uv), {counts['conda']} conda, "
              f"{counts['pyenv']} pyenv, {counts['dirs']:,} other dirs + "
              f"{counts['node_modules_dirs']:,} in node_modules (built in {build_s:.1f} s)")
        print(f"found in tree: {len(in_tree)} {by_kind}  partial={result.partial}")
        print()
        print(f"{'':34}{'measured':>14}{'target':>12}")
        print(f"{'cold discovery':34}{cold_s:>12.3f} s{'<= 0.5 s':>12}  {mark(ok['cold'])}")
        print(f"{'warm discovery':34}{warm_s * 1e3:>11.2f} ms{'<= 10 ms':>12}  "
              f"{mark(ok['warm'])}")
        print(f"{'warm from disk cache (new process)':34}{disk_s:>12.3f} s")
        print(f"{'interpreter spawns':34}{spawns.count:>14}{'0':>12}  {mark(ok['spawns'])}")
        print(f"{'per env: read files (cold, w/ walk)':34}{file_per_env * 1e3:>11.3f} ms")
        print(f"{'per env: spawn interpreter':34}{spawn_per_env * 1e3:>11.2f} ms")
        print(f"{'ratio (spawn / files)':34}{ratio:>13.0f}x{'>= 50x':>12}  {mark(ok['ratio'])}")
    return 0 if all(report["ok"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
