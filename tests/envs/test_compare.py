"""compare(): mode, version change, missing packages, a notebook's imports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kernelswitch.envs import NotebookError, compare, notebook_imports, resolve

from .conftest import fake_prefix, make_venv, write

CELLS = [
    ("markdown", "import not_code"),
    ("code", "import numpy as np\nfrom os import path\nimport json, xml.dom\n"),
    ("code", "%matplotlib inline\n!pip list\nfiles = !ls\nimport ipykernel.kernelapp\n"),
    ("code", "%%bash\nimport nothing_here\n"),
    ("code", "%%time\nfrom totally_missing_pkg.sub import thing\n"),
    ("code", "def f():\n    import helpers\n    %time g()\n    return helpers\nf?\n"),
    ("code", "from . import relative\nimport broken syntax here\nimport requests\n"),
]


def notebook(path: Path) -> Path:
    nb = {
        "cells": [
            {"cell_type": t, "source": s.splitlines(keepends=True), "metadata": {}}
            | ({"outputs": [], "execution_count": None} if t == "code" else {})
            for t, s in CELLS
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))
    return path


def test_notebook_imports(tmp_path: Path) -> None:
    names = notebook_imports(notebook(tmp_path / "nb.ipynb"))
    assert names == [
        "helpers", "ipykernel", "json", "numpy", "os", "requests", "totally_missing_pkg", "xml",
    ]


def test_compare_plain_to_ipykernel_with_notebook(tmp_path: Path, ipykernel_venv: Path) -> None:
    plain = make_venv(tmp_path / "plain")
    nb = notebook(tmp_path / "nb.ipynb")
    write(tmp_path / "helpers.py", "")
    comp = compare(str(plain), str(ipykernel_venv), notebook=nb)
    assert comp.mode == "native"
    assert comp.version_change == "same" and comp.direction == "none"
    assert comp.missing_packages == {}
    assert comp.unsatisfied_imports == ["numpy", "requests", "totally_missing_pkg"]
    data = comp.to_json()
    assert data["notebook"] == str(nb)
    assert data["target"]["has_ipykernel"] is True
    json.dumps(data)
    # the other way round: ipykernel and its dependencies would be missing
    back = compare(resolve(str(ipykernel_venv)), str(plain), notebook=nb)
    assert back.mode == "overlay"
    # overlay mode brings the server's ipykernel: from the server, never missing (issue 16)
    assert "ipykernel" in back.from_server and "pyzmq" in back.from_server
    assert not set(back.from_server) & set(back.missing_packages)
    assert "ipykernel" in back.imports_from_server
    assert "ipykernel" not in back.unsatisfied_imports
    alone = compare(resolve(str(ipykernel_venv)), str(plain), notebook=nb,
                    server=resolve(str(plain)))  # a server without them: they are missing
    assert "ipykernel" in alone.missing_packages and "ipykernel" in alone.unsatisfied_imports


def test_version_change(tmp_path: Path) -> None:
    a = fake_prefix(tmp_path / "a", "3.11.4", cfg={"version": "3.11.4"}, packages=("numpy==2.0",))
    b = fake_prefix(tmp_path / "b", "3.12.1", cfg={"version": "3.12.1"}, packages=("numpy==2.1",))
    c = fake_prefix(tmp_path / "c", "3.11.9", cfg={"version": "3.11.9"})
    ab = compare(str(a), str(b))
    assert (ab.version_change, ab.direction, ab.missing_packages) == ("minor", "upgrade", {})
    ca = compare(str(c), str(a))
    assert (ca.version_change, ca.direction) == ("patch", "downgrade")
    ac = compare(str(a), str(c), server=resolve(str(c)))  # c is overlay: the server's count
    assert ac.missing_packages == {"numpy": "2.0"}


def test_bad_notebook(tmp_path: Path) -> None:
    v = make_venv(tmp_path / "v")
    with pytest.raises(NotebookError, match="does not exist"):
        compare(str(v), str(v), notebook=tmp_path / "missing.ipynb")
    with pytest.raises(NotebookError, match="cannot read notebook"):
        compare(str(v), str(v), notebook=write(tmp_path / "x.ipynb", "{not json"))
    with pytest.raises(NotebookError, match="not a Jupyter notebook"):
        compare(str(v), str(v), notebook=write(tmp_path / "y.ipynb", "[1, 2]"))
