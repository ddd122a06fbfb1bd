"""The kernel side loads in an environment that has only ipykernel.

A real venv with nothing but ipykernel imports the kernelswitch package from
this checkout (and nothing else of the server's), loads the extension into a
real IPython shell, and must not have imported ``vm/``, ``server/``, libvirt,
gi or jupyter_server on the way.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import kernelswitch

PROBE = r"""
import json, sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.run_line_magic("load_ext", "kernelswitch")
import kernelswitch.kernelside.vm_grammar as g
g.build_parser("%vm").parse_args(["list"])
for words in (["manager"], ["new", "my-vm", "--iso", "/x.iso"]):
    g.build_parser("%vm").parse_args(words)
magics = sorted(shell.magics_manager.magics["line"])
# the VM widgets load without anywidget and say how to get it when made
from kernelswitch.widgets import CreateVM, VMManager
missing = []
for cls in (VMManager, CreateVM):
    try:
        cls()
    except Exception as e:
        missing.append(f"{type(e).__name__}: {e}")
print(json.dumps({
    "missing": missing,
    "vm": "vm" in magics and "pyenv" in magics,
    "modules": sorted(sys.modules),
    "file": __import__("kernelswitch").__file__,
}))
"""

FORBIDDEN = ("kernelswitch.vm", "kernelswitch.server", "libvirt", "gi", "jupyter_server")


def test_magics_load_with_only_ipykernel(ipykernel_venv: Path, tmp_path: Path) -> None:
    # Only the kernelswitch package is put on the path, not the server's site-packages.
    (tmp_path / "kernelswitch").symlink_to(Path(kernelswitch.__file__).parent)
    py = ipykernel_venv / "bin" / "python"
    assert subprocess.run([py, "-c", "import jupyter_server"], capture_output=True).returncode
    out = subprocess.run(
        [py, "-c", PROBE],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # `python -c` puts the working directory first on sys.path
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout.splitlines()[-1])
    assert data["vm"], "the %vm and %pyenv magics were not registered"
    assert data["file"].startswith(str(tmp_path)), data["file"]
    assert len(data["missing"]) == 2, data["missing"]
    for message in data["missing"]:
        assert message.startswith("WidgetsMissing:"), message
        assert "-m pip install anywidget ipywidgets" in message, message
    leaked = [
        m for m in data["modules"] if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)
    ]
    assert leaked == [], f"the kernel side imported {leaked}"
