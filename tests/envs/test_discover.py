"""discover(): real venvs, the walk's rules, caching, budget."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from kernelswitch.envs import EnvRecord, _probe, discover, server_python

from .conftest import PY, fake_prefix, make_venv, write

FIELDS = [
    "kind", "name", "prefix", "executable", "version", "version_source",
    "has_ipykernel", "mode", "error", "reason",
]


def by_prefix(envs: list[EnvRecord], prefix: Path) -> EnvRecord:
    matches = [e for e in envs if e.prefix == str(prefix)]
    assert len(matches) == 1, [e.prefix for e in envs]
    return matches[0]


def test_venv_in_tmp_dir_is_found_with_version_from_files(tmp_path: Path) -> None:
    """Foundation test 1: a real venv in a temp dir, version read from pyvenv.cfg."""
    venv = make_venv(tmp_path / "proj" / ".venv")
    spawns = _probe.spawn_count
    result = discover(roots=[tmp_path / "proj"])
    assert _probe.spawn_count == spawns  # nothing was run
    rec = by_prefix(result.envs, venv)
    assert rec.kind == "venv"
    assert rec.name == "proj/.venv"
    assert rec.version == server_python().version
    assert rec.version_source == "pyvenv.cfg"
    assert rec.executable == str(venv / "bin" / "python")
    assert rec.has_ipykernel is False
    assert rec.mode == "overlay" and "same Python" in rec.reason
    assert rec.error is None
    assert not result.partial
    assert list(rec.to_json()) == FIELDS
    assert "packages" in rec.to_json(packages=True)
    json.dumps(result.to_json())


def test_venv_with_ipykernel_is_native(ipykernel_venv: Path) -> None:
    rec = by_prefix(discover(roots=[ipykernel_venv.parent]).envs, ipykernel_venv)
    assert rec.has_ipykernel
    assert rec.mode == "native"
    assert "ipykernel" in rec.packages and "jupyter-client" in rec.packages
    assert "ipykernel" in rec.modules


def test_system_site_packages_count(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "sys", "--system-site-packages")
    rec = by_prefix(discover(roots=[tmp_path]).envs, venv)
    assert rec.config["include-system-site-packages"] == "true"
    assert rec.error is None


def test_system_site_packages_of_the_base_are_seen(tmp_path: Path) -> None:
    base = fake_prefix(tmp_path / "base", f"{PY}.0", packages=("ipykernel",))
    cfg = {"home": str(base / "bin"), "version": f"{PY}.0"}
    on = fake_prefix(tmp_path / "envs" / "on", f"{PY}.0",
                     cfg={**cfg, "include-system-site-packages": "true"})
    off = fake_prefix(tmp_path / "envs" / "off", f"{PY}.0",
                      cfg={**cfg, "include-system-site-packages": "false"})
    envs = discover(roots=[tmp_path / "envs"]).envs
    ron, roff = by_prefix(envs, on), by_prefix(envs, off)
    assert ron.has_ipykernel and ron.mode == "native" and "ipykernel" in ron.modules
    assert not roff.has_ipykernel and roff.mode == "overlay"


def test_depth_prune_and_dedupe(tmp_path: Path) -> None:
    deep = make_venv(tmp_path / "a" / "b" / "c" / "venv")
    hidden = make_venv(tmp_path / "web" / "node_modules" / "x" / "venv")
    shallow = make_venv(tmp_path / "venv")
    # the same tree reached from two roots: one record each
    envs = discover(roots=[tmp_path, tmp_path / "a"], depth=5).envs
    prefixes = [e.prefix for e in envs]
    assert prefixes.count(str(deep)) == 1
    assert str(hidden) not in prefixes
    assert str(shallow) in prefixes
    envs = discover(roots=[tmp_path], depth=3).envs
    assert str(deep) not in [e.prefix for e in envs]
    assert str(shallow) in [e.prefix for e in envs]


def test_symlinked_venv_stays_a_venv(tmp_path: Path) -> None:
    real = make_venv(tmp_path / "elsewhere" / "real-venv")
    scan = tmp_path / "scan"
    scan.mkdir()
    link = scan / "linked"
    link.symlink_to(real, target_is_directory=True)
    rec = by_prefix(discover(roots=[scan]).envs, link)
    assert rec.kind == "venv"
    assert rec.executable == str(link / "bin" / "python")
    assert rec.error is None
    # reached both ways: reported once, by its real path
    envs = discover(roots=[tmp_path]).envs
    found = [e.prefix for e in envs if e.prefix in (str(real), str(link))]
    assert found == [str(real)]


def test_symlink_loop_ends(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "a" / "venv")
    (tmp_path / "a" / "b").mkdir()
    (tmp_path / "a" / "b" / "loop").symlink_to(tmp_path / "a", target_is_directory=True)
    (tmp_path / "a" / "self").symlink_to(".", target_is_directory=True)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere", target_is_directory=True)
    result = discover(roots=[tmp_path], depth=50)
    assert not result.partial
    assert [e.prefix for e in result.envs].count(str(venv)) == 1


def test_base_interpreter_gone_is_an_error_record(tmp_path: Path) -> None:
    ok = make_venv(tmp_path / "ok")
    gone = make_venv(tmp_path / "gone")
    cfg = (gone / "pyvenv.cfg").read_text()
    home = next(ln.split("=", 1)[1].strip() for ln in cfg.splitlines() if ln.startswith("home"))
    (gone / "pyvenv.cfg").write_text(cfg.replace(home, str(tmp_path / "removed-python" / "bin")))
    envs = discover(roots=[tmp_path]).envs
    rec = by_prefix(envs, gone)
    assert rec.error and "base interpreter gone" in rec.error
    assert str(tmp_path / "removed-python") in rec.error
    assert rec.mode == "incompatible" and rec.reason == rec.error
    assert by_prefix(envs, ok).error is None


def test_garbage_pyvenv_cfg_is_an_error_record(tmp_path: Path) -> None:
    ok = make_venv(tmp_path / "ok")
    bad = tmp_path / "bad"
    write(bad / "pyvenv.cfg").write_bytes(b"\x00\xff\xfe garbage \x80")
    nohome = tmp_path / "nohome"
    write(nohome / "pyvenv.cfg", "this is not = a venv\n[section]\n")
    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / "pyvenv.cfg")
    envs = discover(roots=[tmp_path]).envs
    assert "not a regular file" in (by_prefix(envs, fifo).error or "")
    assert "not text" in (by_prefix(envs, bad).error or "")
    assert "no 'home' key" in (by_prefix(envs, nohome).error or "")
    assert by_prefix(envs, ok).error is None


def test_incompatible_and_unknown_version(tmp_path: Path) -> None:
    other = "3.6.1" if PY != "3.6" else "3.7.1"
    old = fake_prefix(tmp_path / "old", other, cfg={"version": other})
    # nothing on disk tells this one's version (no version key, no lib/pythonX.Y)
    unknown = tmp_path / "unknown"
    (tmp_path / "nobase" / "bin").mkdir(parents=True)
    write(unknown / "pyvenv.cfg", f"home = {tmp_path / 'nobase' / 'bin'}\n")
    write(unknown / "bin" / "python", "", 0o755)
    envs = discover(roots=[tmp_path]).envs
    rec = by_prefix(envs, old)
    assert rec.mode == "incompatible"
    assert "pip install ipykernel" in rec.reason and other[:3] in rec.reason
    rec = by_prefix(envs, unknown)
    assert (rec.version, rec.version_source, rec.mode) == (None, None, "incompatible")
    assert "could not be read from files" in rec.reason


def test_cache_is_revalidated_by_mtime(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "v")
    first = by_prefix(discover(roots=[tmp_path]).envs, venv)
    assert not first.has_ipykernel
    cache_file = Path(os.environ["KERNELSWITCH_CACHE"]) / "envs" / "probes.json"
    assert cache_file.exists()
    # warm: the walk is reused, the record revalidated
    assert by_prefix(discover(roots=[tmp_path]).envs, venv) is first
    site = venv / "lib" / f"python{PY}" / "site-packages"
    (site / "ipykernel-6.29.5.dist-info").mkdir()
    os.utime(site, ns=(1, 1))  # a different mtime even on coarse clocks
    again = by_prefix(discover(roots=[tmp_path]).envs, venv)
    assert again.has_ipykernel and again.mode == "native"


def test_disk_cache_starts_a_new_process_warm(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "v")
    discover(roots=[tmp_path])
    # a fresh cache object reads the file the first one wrote
    fresh = _probe.ProbeCache()
    rec = fresh.get(f"{venv}\0")
    assert rec is not None and rec.version == server_python().version


def test_new_env_needs_refresh_within_ttl(tmp_path: Path) -> None:
    def found(**kw: bool) -> set[str]:
        # only this test's envs: the venv running the tests may be on PATH too
        return {e.prefix for e in discover(roots=[tmp_path], **kw).envs} & {
            str(tmp_path / "one"),
            str(tmp_path / "two"),
        }

    make_venv(tmp_path / "one")
    assert found() == {str(tmp_path / "one")}
    make_venv(tmp_path / "two")
    assert found() == {str(tmp_path / "one")}
    assert found(refresh=True) == {str(tmp_path / "one"), str(tmp_path / "two")}


def test_budget_gives_partial_results(tmp_path: Path) -> None:
    for i in range(400):
        (tmp_path / f"d{i}").mkdir()
    result = discover(roots=[tmp_path], budget=0)
    assert result.partial
    full = discover(roots=[tmp_path], refresh=True)
    assert not full.partial


def test_missing_root_is_reported_and_scan_goes_on(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "v")
    result = discover(roots=[tmp_path / "missing", tmp_path])
    assert str(venv) in [e.prefix for e in result.envs]
    assert any("missing" in e.path for e in result.errors)


def test_removed_env_disappears_after_refresh(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "v")
    assert str(venv) in [e.prefix for e in discover(roots=[tmp_path]).envs]
    shutil.rmtree(venv)
    assert str(venv) not in [e.prefix for e in discover(roots=[tmp_path]).envs]
    assert str(venv) not in [e.prefix for e in discover(roots=[tmp_path], refresh=True).envs]


def test_linked_folder_of_projects_is_scanned(tmp_path: Path) -> None:
    data = tmp_path / "data" / "projects"
    venv = make_venv(data / "p1" / ".venv")
    scan = tmp_path / "scan"
    scan.mkdir()
    (scan / "projects").symlink_to(data, target_is_directory=True)
    rec = by_prefix(discover(roots=[scan]).envs, scan / "projects" / "p1" / ".venv")
    assert rec.kind == "venv" and rec.error is None
    assert str(venv) != rec.prefix  # reported where the user reaches it


def test_default_roots_and_concurrent_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    venv = make_venv(home / "work" / "venv")
    monkeypatch.chdir(tmp_path)
    with ThreadPoolExecutor(4) as ex:
        results = list(ex.map(lambda _: discover(), range(4)))
    for r in results:
        assert str(venv) in [e.prefix for e in r.envs]
