"""Which folders the live env list watches: as deep as the scan, pruned like it."""

from __future__ import annotations

from pathlib import Path

from kernelswitch.envs._watch import watch_dirs


def _env(path: Path) -> None:
    (path / "bin").mkdir(parents=True)
    (path / "lib" / "python3.11" / "site-packages" / "pkg").mkdir(parents=True)
    (path / "pyvenv.cfg").write_text("home = /usr/bin\n")


def test_watch_reaches_the_scan_depth_and_skips_what_the_scan_skips(tmp_path: Path) -> None:
    (tmp_path / "a" / "b" / "c" / "d" / "e").mkdir(parents=True)
    (tmp_path / "node_modules" / "x").mkdir(parents=True)
    _env(tmp_path / "proj" / ".venv")
    (tmp_path / "link").symlink_to(tmp_path / "a")
    dirs, reached = watch_dirs([str(tmp_path)], depth=4)
    rel = {str(Path(d).relative_to(tmp_path)) for d in dirs}
    assert reached == 4
    assert {".", "a", "a/b", "a/b/c", "a/b/c/d", "proj", "proj/.venv"} <= rel
    assert "a/b/c/d/e" not in rel  # deeper than the scan
    assert not any(r.startswith("node_modules") for r in rel)  # pruned like the scan
    assert "proj/.venv/bin" in rel  # the env's interpreters: a finished venv shows
    assert "proj/.venv/lib" not in rel  # an env's insides are not entered
    assert "link" not in rel  # links: the real folder is watched


def test_a_huge_tree_is_cut_nearest_first(tmp_path: Path) -> None:
    for i in range(30):
        (tmp_path / f"d{i}" / "sub").mkdir(parents=True)
    dirs, reached = watch_dirs([str(tmp_path)], depth=5, limit=40)
    assert len(dirs) == 40
    assert reached == 1  # the root and its 30 folders whole; the next level cut
    assert all(str(tmp_path / f"d{i}") in dirs for i in range(30))
