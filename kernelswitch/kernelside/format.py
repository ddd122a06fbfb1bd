"""Plain-text output shared by the CLI and the magics (one look everywhere)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """Left-aligned columns, two spaces apart, no trailing blanks."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for r in [header, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(r, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def env_table(records: Sequence[dict[str, Any]]) -> str:
    """Env records (their JSON form) as the ``envs`` table, errors listed below."""
    rows = [
        (
            e["kind"],
            e["name"],
            e.get("version") or "?",
            "yes" if e.get("has_ipykernel") else "no",
            "error" if e.get("error") else (e.get("mode") or "?"),
            e["prefix"],
        )
        for e in records
    ]
    text = table(rows, ("KIND", "NAME", "PYTHON", "IPYKERNEL", "MODE", "PREFIX"))
    errors = [f"! {e['prefix']}: {e['error']}" for e in records if e.get("error")]
    return "\n".join([text, *errors])


def comparison_text(comp: Any) -> str:
    """A :class:`~kernelswitch.envs.Comparison` for people."""
    t = comp.target
    lines = [f"target:   {t.name} ({t.kind}, {t.prefix})", f"mode:     {comp.mode} — {comp.reason}"]
    change = comp.version_change
    if comp.direction != "none":
        change = f"{comp.version_change} {comp.direction}"
    lines.append(f"python:   {comp.version_from or '?'} -> {comp.version_to or '?'} ({change})")
    if comp.missing_packages:
        names = ", ".join(sorted(comp.missing_packages))
        lines.append(f"missing:  {len(comp.missing_packages)} package(s) not in target: {names}")
    else:
        lines.append("missing:  none (target has every package of current)")
    if comp.notebook is not None:
        if comp.unsatisfied_imports:
            lines.append(f"imports:  target cannot import: {', '.join(comp.unsatisfied_imports)}")
        else:
            n = len(comp.notebook_imports)
            lines.append(f"imports:  all {n} import(s) of the notebook satisfied")
    return "\n".join(lines)
