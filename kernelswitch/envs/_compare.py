"""compare(): what changes for a notebook when its kernel moves to another env."""

from __future__ import annotations

import ast
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from ._record import MODE_OVERLAY, EnvRecord
from ._resolve import resolve
from .errors import NotebookError

# Cell magics whose body is still Python source.
_PY_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})
_IMPORT_LINE = re.compile(r"^\s*(?:import|from)\s+([A-Za-z_][\w]*)")


@dataclass
class Comparison:
    """Result of :func:`compare`; ``to_json()`` is what the REST API and CLI print."""

    current: EnvRecord
    target: EnvRecord
    mode: str
    reason: str
    version_from: str | None
    version_to: str | None
    #: "same", "patch", "minor", "major" or "unknown"
    version_change: str
    #: "upgrade", "downgrade" or "none"
    direction: str
    #: distributions installed in current and absent from target (and not
    #: brought by the server in overlay mode): name -> current version
    missing_packages: dict[str, str] = field(default_factory=dict)
    #: distributions of current the target lacks but gets from the server in
    #: overlay mode (its site-packages are appended): name -> server's version
    from_server: dict[str, str] = field(default_factory=dict)
    notebook: str | None = None
    #: top-level modules the notebook imports that the target cannot provide
    unsatisfied_imports: list[str] = field(default_factory=list)
    notebook_imports: list[str] = field(default_factory=list)
    #: imports the target satisfies only through the server's packages (overlay)
    imports_from_server: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "current": self.current.to_json(),
            "target": self.target.to_json(),
            "mode": self.mode,
            "reason": self.reason,
            "version": {
                "from": self.version_from,
                "to": self.version_to,
                "change": self.version_change,
                "direction": self.direction,
            },
            "missing_packages": dict(sorted(self.missing_packages.items())),
            "from_server": dict(sorted(self.from_server.items())),
            # the name front ends used before from_server (a list)
            "provided_by_mode": sorted(self.from_server),
            "notebook": self.notebook,
            "notebook_imports": self.notebook_imports,
            "unsatisfied_imports": self.unsatisfied_imports,
            "imports_from_server": self.imports_from_server,
        }


def _version_change(a: str | None, b: str | None) -> tuple[str, str]:
    if not a or not b:
        return "unknown", "none"
    try:
        va, vb = Version(a), Version(b)
    except InvalidVersion:
        return "unknown", "none"
    if va == vb:
        return "same", "none"
    direction = "upgrade" if vb > va else "downgrade"
    ra, rb = (*va.release, 0, 0), (*vb.release, 0, 0)
    if ra[0] != rb[0]:
        return "major", direction
    if ra[1] != rb[1]:
        return "minor", direction
    return "patch", direction


def _cell_source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _python_of(source: str) -> str | None:
    """The Python in a cell with IPython syntax (magics, shell escapes) blanked."""
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        magic = lines[0].lstrip()[2:].split(maxsplit=1)
        if not magic or magic[0] not in _PY_CELL_MAGICS:
            return None
        lines = lines[1:]
    out = []
    for line in lines:
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")) or (stripped.endswith("?") and "#" not in stripped):
            indent = line[: len(line) - len(stripped)]
            out.append(f"{indent}pass")
        elif re.match(r"^\s*\w+\s*=\s*[%!]", line):
            out.append(line.split("=", 1)[0] + "= None")
        else:
            out.append(line)
    return "\n".join(out)


def notebook_imports(path: str | Path) -> list[str]:
    """Sorted top-level module names imported (absolutely) by the notebook's code cells."""
    from .._safe_read import NOTEBOOK_LIMIT, UnsafeFile, read_regular

    p = os.path.abspath(os.path.expanduser(str(path)))
    try:
        nb = json.loads(read_regular(p, NOTEBOOK_LIMIT, what="notebook"))
    except UnsafeFile as e:
        why = str(e.strerror)
        raise NotebookError(f"{why[:1].upper()}{why[1:]}.", details={"path": p}) from e
    except (OSError, ValueError) as e:
        raise NotebookError(
            f"cannot read notebook {p}: {e}; pass a .ipynb file", details={"path": p}
        ) from e
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise NotebookError(f"{p} is not a Jupyter notebook (no cells)", details={"path": p})
    names: set[str] = set()
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        src = _python_of(_cell_source(cell))
        if src is None:
            continue
        try:
            names.update(_imports(ast.parse(src)))
        except SyntaxError:
            # a cell that does not parse: keep its import lines that do
            for line in src.splitlines():
                if _IMPORT_LINE.match(line):
                    try:
                        names.update(_imports(ast.parse(line.strip())))
                    except SyntaxError:
                        continue
    return sorted(names)


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def provides(env: EnvRecord, name: str) -> bool:
    """``env``'s site-packages has the top-level module ``name``."""
    return name in env.modules or name.lower().replace("_", "-") in env.packages


def _satisfied(name: str, target: EnvRecord, nb_dir: str | None) -> bool:
    if name in sys.stdlib_module_names or name in sys.builtin_module_names:
        return True
    if provides(target, name):
        return True
    if nb_dir and (
        os.path.exists(os.path.join(nb_dir, name + ".py"))
        or os.path.isdir(os.path.join(nb_dir, name))
    ):
        return True  # a module next to the notebook (the kernel's cwd)
    return False


def overlay_server(target: EnvRecord) -> EnvRecord | None:
    """The server's env when ``target`` runs in overlay mode (its packages come
    along, appended to the target's ``sys.path``), else None."""
    if target.mode != MODE_OVERLAY:
        return None
    from ._record import server_python

    return resolve(server_python().executable)


def compare(
    current: str | EnvRecord,
    target: str | EnvRecord,
    notebook: str | Path | None = None,
    server: EnvRecord | None = None,
) -> Comparison:
    """How moving from ``current`` to ``target`` changes things: the target's mode
    and reason, the Python version change, packages ``current`` has and
    ``target`` lacks, and (given a notebook) the imports ``target`` cannot satisfy.

    In overlay mode the server's packages come along (``server``, default the
    server's own env): what they provide is ``from_server``, never missing,
    the same word the switch answer uses (one vocabulary, issue 16).
    Strings are resolved with :func:`~kernelswitch.envs.resolve`.
    """
    cur = current if isinstance(current, EnvRecord) else resolve(current)
    tgt = target if isinstance(target, EnvRecord) else resolve(target)
    change, direction = _version_change(cur.version, tgt.version)
    srv = (server or overlay_server(tgt)) if tgt.mode == MODE_OVERLAY else None
    lacking = {n: v for n, v in cur.packages.items() if n not in tgt.packages}
    missing = {n: v for n, v in lacking.items() if srv is None or n not in srv.packages}
    from_srv = {n: srv.packages[n] for n in lacking if srv is not None and n in srv.packages}
    comp = Comparison(
        current=cur,
        target=tgt,
        mode=tgt.mode,
        reason=tgt.reason,
        version_from=cur.version,
        version_to=tgt.version,
        version_change=change,
        direction=direction,
        missing_packages=missing,
        from_server=from_srv,
    )
    if notebook is not None:
        nb = os.path.abspath(os.path.expanduser(str(notebook)))
        imports = notebook_imports(nb)
        nb_dir = os.path.dirname(nb)
        comp.notebook = nb
        comp.notebook_imports = imports
        lacking_imports = [n for n in imports if not _satisfied(n, tgt, nb_dir)]
        comp.imports_from_server = [n for n in lacking_imports
                                    if srv is not None and provides(srv, n)]
        comp.unsatisfied_imports = [n for n in lacking_imports
                                    if n not in comp.imports_from_server]
    return comp
