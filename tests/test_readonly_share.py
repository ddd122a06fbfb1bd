"""Read-only shares: the refusals that need no guest, and the helper's script.

The guest side (writes fail with EROFS, reads work) is tests/vm/test_reach.py.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from kernelswitch.vm.errors import InvalidVMSpec
from kernelswitch.vm.guest import readonly


def test_a_remote_host_is_refused_with_what_to_do_instead() -> None:
    with pytest.raises(InvalidVMSpec) as e:
        readonly.check_readonly("qemu+ssh://me@example.org/session", "/srv/data")
    assert "another machine" in e.value.message and "mount -t virtiofs -o ro" in e.value.message


def test_a_comma_in_the_path_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:  # the root check comes first, with its own message
        with pytest.raises(InvalidVMSpec, match="needs root"):
            readonly.check_readonly("qemu:///session", str(tmp_path))
        return
    with pytest.raises(InvalidVMSpec, match="comma"):
        readonly.check_readonly("qemu:///session", str(tmp_path / "a,b"))
    readonly.check_readonly("qemu:///session", str(tmp_path))  # a plain folder is fine


def test_the_helper_refuses_to_run_without_a_folder(tmp_path: Path) -> None:
    script = tmp_path / "virtiofsd-ro"
    script.write_text(readonly._script())
    script.chmod(0o755)
    out = subprocess.run([str(script), "--fd=3"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "no source= folder" in out.stderr
    caps = subprocess.run([str(script), "--print-capabilities"], capture_output=True,
                          text=True, timeout=30)  # fmt: skip
    assert caps.returncode == 0 and '"type": "fs"' in caps.stdout
