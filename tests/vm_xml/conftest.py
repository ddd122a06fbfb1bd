"""Fixtures for the VM spec/osinfo/domain-XML tests: tiny real ISO images."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

FEDORA_LABEL = "Fedora-WS-Live-37-1-7"  # bookworm's osinfo-db knows this as fedora37
PLAIN_LABEL = "TESTOS"


def make_iso(path: Path, label: str) -> Path:
    """A small ISO 9660 image with volume id *label* (xorriso, as the test OS does)."""
    root = path.parent / f"{path.stem}-root"
    root.mkdir(parents=True, exist_ok=True)
    (root / "README.TXT").write_text("kernelswitch test image\n")
    subprocess.run(
        ["xorriso", "-as", "mkisofs", "-V", label, "-o", str(path), str(root)],
        check=True,
        capture_output=True,
    )
    return path


@pytest.fixture(scope="session")
def reachable_dir() -> Iterator[Path]:
    """A directory the hypervisor user can traverse (pytest's tmp dirs are 0700)."""
    d = Path(tempfile.mkdtemp(prefix="ks-vmxml-", dir="/tmp"))
    d.chmod(0o755)  # our own fresh directory, not a user's file
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def fedora_iso(reachable_dir: Path) -> Path:
    return make_iso(reachable_dir / "fedora.iso", FEDORA_LABEL)


@pytest.fixture(scope="session")
def plain_iso(reachable_dir: Path) -> Path:
    return make_iso(reachable_dir / "plain.iso", PLAIN_LABEL)


@pytest.fixture
def regen_golden() -> bool:
    return os.environ.get("KERNELSWITCH_REGEN_GOLDEN") == "1"
