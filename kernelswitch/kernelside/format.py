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
    """Env records (their JSON form) as the ``envs`` table, errors listed below.

    MODE is the API's word (an env with an error is ``incompatible`` in both);
    ``*`` marks the env the kernel runs in (``current``), ``(server)`` the
    server's own env.
    """
    rows = [
        (
            "*" if e.get("current") else "",
            e["kind"],
            e.get("label") or e["name"],
            e.get("version") or "?",
            "yes" if e.get("has_ipykernel") else "no",
            e.get("mode") or "?",
            e.get("short_path") or e["prefix"],
            "(server)" if e.get("server") else "",
        )
        for e in records
    ]
    text = table(rows, ("", "KIND", "NAME", "PYTHON", "IPYKERNEL", "MODE", "PREFIX", ""))
    errors = [f"! {e['prefix']}: {e['error']}" for e in records if e.get("error")]
    return "\n".join([text, *errors])


#: Names shown per group before "… and N more".
_SHOWN = 12


def _names(names: Sequence[str], shown: int = _SHOWN) -> str:
    names = sorted(names)
    more = len(names) - shown
    head = ", ".join(names[:shown])
    return f"{head}, … and {more} more (--json lists all)" if more > 0 else head


def comparison_text(comp: Any) -> str:
    """A comparison (a :class:`~kernelswitch.envs.Comparison` or its JSON) for people.

    What would break the notebook comes first. The words are the switch's and
    carry's (one vocabulary): packages overlay mode brings along are "from the
    server", never missing.
    """
    c = comp if isinstance(comp, dict) else comp.to_json()
    t = c["target"]
    lines = []
    if c.get("notebook") is not None:
        if c.get("unsatisfied_imports"):
            lines.append("breaks:   the notebook needs what the target cannot import: "
                         f"{_names(c['unsatisfied_imports'])} (align installs them)")
        else:
            lines.append(f"imports:  all {len(c.get('notebook_imports', []))} import(s) of the "
                         "notebook satisfied")
        if c.get("imports_from_server"):
            lines.append(f"          from the server (overlay): {_names(c['imports_from_server'])}")
    if c["mode"] == "incompatible":
        lines.append(f"breaks:   the kernel cannot run there: {c['reason']}")
    lines.append(f"target:   {t['name']} ({t['kind']}, {t['prefix']})")
    lines.append(f"mode:     {c['mode']} — {c['reason']}")
    v = c["version"]
    change = v["change"] if v["direction"] == "none" else f"{v['change']} {v['direction']}"
    lines.append(f"python:   {v['from'] or '?'} -> {v['to'] or '?'} ({change})")
    missing = list(c.get("missing_packages", {}))
    if missing:
        lines.append(f"missing:  {len(missing)} package(s) not in target: {_names(missing)}")
    else:
        lines.append("missing:  none (target has every package of current)")
    from_server = list(c.get("from_server") or {})
    if from_server:
        lines.append(f"from server: {len(from_server)} package(s) the server brings in overlay "
                     f"mode: {_names(from_server, 6)}")
    return "\n".join(lines)


def carry_lines(carry: dict[str, Any]) -> list[str]:
    """The switch answer's ``carry``: values carried, modules re-imported, the rest why."""
    lines = [f"carried:  {', '.join(carry.get('carried') or []) or 'nothing'}"]
    if carry.get("reimported"):
        lines.append(f"re-imported: {', '.join(carry['reimported'])}")
    for item in carry.get("not_carried") or []:
        lines.append(f"  not carried: {item['name']}: {item['reason']}")
    return lines


def switch_text(ans: dict[str, Any]) -> str:
    """What a switch changed: where the kernel runs now, version, mode, packages."""
    env, ch = ans["env"], ans.get("changes") or {}
    when = "the next cell runs there" if ans.get("pending") else "the kernel runs there now"
    lines = [f"switched to {env['name']} ({env['kind']}, {env['prefix']}): {when}"]
    ver, mode = ch.get("version") or [None, None], ch.get("mode") or [None, None]
    lines.append(f"python:   {ver[0] or '?'} -> {ver[1] or '?'}")
    lines.append(f"mode:     {mode[0] or '?'} -> {mode[1] or '?'}")
    gained, lost = ch.get("gained") or [], ch.get("lost") or []
    if gained:
        lines.append(f"gained:   {len(gained)}: {_names(gained)}")
    if lost:
        lines.append(f"lost:     {len(lost)}: {_names(lost)}")
    if ch.get("from_server"):
        lines.append(f"from server: {len(ch['from_server'])} (overlay mode): "
                     f"{_names(ch['from_server'], 6)}")
    if not gained and not lost and not ch.get("from_server"):
        lines.append("packages: the same distributions")
    carry = ans.get("carry") or {}
    if any(carry.get(k) for k in ("carried", "reimported", "not_carried")):
        lines += carry_lines(carry)
    return "\n".join(lines)
