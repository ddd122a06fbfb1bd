"""`pip install` of the wheel alone enables the server extension and installs
the prebuilt labextension: the wheel must carry both as shared data."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).parent.parent


def test_wheel_carries_labextension_and_server_config(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps",
         "-q", "-w", str(tmp_path), str(REPO)],
        check=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("kernelswitch-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    data = "kernelswitch-0.1.0.data/data/"
    assert f"{data}etc/jupyter/jupyter_server_config.d/kernelswitch.json" in names
    assert f"{data}share/jupyter/labextensions/kernelswitch/package.json" in names
    assert any(
        n.startswith(f"{data}share/jupyter/labextensions/kernelswitch/static/") for n in names
    )
    assert "kernelswitch/static/widgets.js" in names
    assert "kernelswitch/server/app.py" in names


def test_installed_server_extension_is_enabled() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "jupyter", "server", "extension", "list"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)  # no colours
    # "    kernelswitch enabled" (a folder named kernelswitch may appear in paths too)
    assert re.search(r"^\s*kernelswitch\s+enabled\b", text, re.MULTILINE), text
