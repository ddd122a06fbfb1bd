"""Locator plugins through the real entry-point machinery (a dist-info on sys.path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelswitch.envs import ENTRY_POINT_GROUP, discover, resolve
from kernelswitch.envs.locators import BUILTIN_ENTRY_POINTS, BUILTIN_LOCATORS, load_locators

from .conftest import fake_prefix, write

PLUGIN = '''
from kernelswitch.envs.locators import Candidate, Locator

ROOT = {root!r}


class SpackLocator(Locator):
    kind = "spack"
    priority = 5

    def locations(self):
        yield Candidate(ROOT, kind=self.kind, name="spack-python",
                        version_hint=("3.10.2", "directory-name"))
'''

BUGGY = '''
from kernelswitch.envs.locators import Locator


class Buggy(Locator):
    kind = "buggy"
    priority = 1

    def claim(self, cand):
        raise RuntimeError("plugin bug")
'''


def install_plugin(site: Path, entries: dict[str, str], module: str = "") -> None:
    dist = site / "ks_plugin-1.0.dist-info"
    write(dist / "METADATA", "Metadata-Version: 2.1\nName: ks-plugin\nVersion: 1.0\n")
    lines = [f"[{ENTRY_POINT_GROUP}]"] + [f"{k} = {v}" for k, v in entries.items()]
    write(dist / "entry_points.txt", "\n".join(lines) + "\n")
    if module:
        write(site / "ks_plugin.py", module)


def test_builtins_work_without_installed_entry_points() -> None:
    locs, errors = load_locators()
    kinds = [loc.kind for loc in locs]
    assert set(kinds) >= {cls.kind for cls in BUILTIN_LOCATORS}
    assert kinds.index("poetry") < kinds.index("uv") < kinds.index("venv")
    assert errors == []
    assert BUILTIN_ENTRY_POINTS["venv"] == "kernelswitch.envs.locators:VenvLocator"


def test_plugin_locator_is_loaded_and_a_broken_one_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = fake_prefix(tmp_path / "spack" / "python-3.10.2", "3.10.2")
    site = tmp_path / "site"
    install_plugin(
        site,
        {
            "spack": "ks_plugin:SpackLocator",
            "broken": "ks_plugin_missing:Nothing",
            # a builtin listed again (as pyproject does) is not loaded twice
            "venv": BUILTIN_ENTRY_POINTS["venv"],
        },
        PLUGIN.format(root=str(prefix)),
    )
    monkeypatch.syspath_prepend(str(site))
    result = discover(roots=[tmp_path / "empty-root"])
    rec = next(e for e in result.envs if e.prefix == str(prefix))
    assert (rec.kind, rec.name, rec.version) == ("spack", "spack-python", "3.10.2")
    assert any("broken" in e.message and "failed to load" in e.message for e in result.errors)
    assert [loc.kind for loc in load_locators()[0]].count("venv") == 1


def test_installed_entry_points_name_the_builtins() -> None:
    """pyproject's [project.entry-points."kernelswitch.locators"] lists exactly the builtins."""
    from importlib.metadata import entry_points

    ours = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)
            if ep.dist is not None and ep.dist.name == "kernelswitch"}
    assert ours == BUILTIN_ENTRY_POINTS


def test_plugin_whose_claim_raises_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = fake_prefix(tmp_path / "root" / "v", "3.11.4", cfg={"version": "3.11.4"})
    site = tmp_path / "site"
    install_plugin(site, {"buggy": "ks_plugin:Buggy"}, BUGGY)
    monkeypatch.syspath_prepend(str(site))
    rec = next(e for e in discover(roots=[tmp_path / "root"]).envs if e.prefix == str(venv))
    assert (rec.kind, rec.version, rec.error) == ("venv", "3.11.4", None)
    assert resolve(str(venv)).kind == "venv"
