"""``%pyenv``: list, current, compare, switch, align, create — thin clients of the REST API.

Inside a kernel a kernelswitch server started (``KERNELSWITCH_KERNEL_ID`` is
set), ``current``, ``compare`` and ``switch`` ask the server about *this*
kernel, so they work in any env, even one without kernelswitch's
dependencies. Elsewhere (a plain IPython) ``current`` and ``compare`` fall
back to reading this interpreter's env locally.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import urllib.parse
from typing import Any

from .format import comparison_text, env_table, switch_text


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="%pyenv", description="Python environments")
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    ls = sub.add_parser("list", help="every environment on the machine")
    ls.add_argument("--refresh", action="store_true", help="rescan instead of using the cache")
    ls.add_argument("--root", action="append", default=[], metavar="DIR",
                    help="also scan DIR, on top of the server's folders (repeatable)")
    ls.add_argument("--json", action="store_true")
    cur = sub.add_parser("current", help="the environment this kernel runs in")
    cur.add_argument("--json", action="store_true")
    cmp_ = sub.add_parser("compare", help="what changes if this kernel moved to TARGET")
    cmp_.add_argument("target", help="a name from `%%pyenv list`, an interpreter or an env folder")
    cmp_.add_argument("--notebook", help="also check this notebook's imports "
                      "(default: this kernel's notebook)")
    cmp_.add_argument("--json", action="store_true")
    sw = sub.add_parser("switch", help="move this kernel to TARGET; the next cell runs there")
    sw.add_argument("target", help="a name from `%%pyenv list`, an interpreter or an env folder")
    sw.add_argument("--carry", action="store_true",
                    help="take the variables along (modules are re-imported; what cannot "
                    "move is listed with the reason)")
    sw.add_argument("--timeout", type=float, default=None,
                    help="seconds to wait for the new kernel (default: the server's)")
    sw.add_argument("--json", action="store_true")
    al = sub.add_parser("align", help="install into TARGET what the notebook imports and "
                        "TARGET lacks, at this env's versions (shows the command; --yes runs it)")
    al.add_argument("target", help="a name from `%%pyenv list`, an interpreter or an env folder")
    al.add_argument("--notebook", help="the notebook whose imports count "
                    "(default: this kernel's notebook)")
    al.add_argument("--yes", action="store_true", help="run the command shown")
    al.add_argument("--json", action="store_true")
    ins = sub.add_parser("install-ipykernel",
                         help="install ipykernel into TARGET (shows the command; --yes runs it)")
    ins.add_argument("target", help="a name from `%%pyenv list`, an interpreter or an env folder")
    ins.add_argument("--yes", action="store_true", help="run the command shown")
    ins.add_argument("--json", action="store_true")
    from ._pyenv_create import add_parser

    add_parser(sub)
    return p


def kernel_id() -> str | None:
    """This kernel's id on the server that launched it (set at launch)."""
    return os.environ.get("KERNELSWITCH_KERNEL_ID") or None


def _own_notebook() -> str | None:
    path = os.environ.get("JPY_SESSION_NAME", "")
    return path if path.endswith(".ipynb") and os.path.isfile(path) else None


def run(args: Any, usage_error: type[Exception]) -> Any:
    from . import client

    kid = kernel_id()
    if args.action == "list":
        query = [("refresh", "1")] if args.refresh else []
        query += [("kernel", kid)] if kid is not None else []  # marks this kernel's env
        query += [("root", os.path.abspath(os.path.expanduser(r))) for r in args.root]
        data = client.request("GET", "envs" + (f"?{urllib.parse.urlencode(query)}" if query
                                               else ""))
        if args.json:
            return data
        print(env_table(data.get("envs", [])))
        if data.get("roots"):
            print(f"scanned: {', '.join(data['roots'])} (add a folder with --root DIR)")
        if data.get("partial"):
            print("(partial: the scan ran out of time; use --refresh to scan again)")
        return None
    if args.action == "install-ipykernel":
        return _install(args)
    if args.action == "align":
        return _align(kid, args, usage_error)
    if args.action == "create":
        from . import _pyenv_create

        return _pyenv_create.run(kid, args)
    if args.action == "switch":
        if kid is None:
            raise usage_error(
                "this kernel was not started by a kernelswitch server, so it cannot be "
                "switched; open the notebook from `jupyter lab` with kernelswitch installed"
            )
        return _switch(kid, args)
    if args.action == "current":
        if kid is not None:
            rec = client.request("GET", f"kernels/{kid}/env")["env"]
            if rec.get("restore_error") and not args.json:
                print(f"note: {rec['restore_error']['message']}")
        else:
            rec = _local_current().to_json()
        if args.json:
            return rec
        print(f"{rec['name']} ({rec['kind']}, Python {rec['version']}, {rec['mode']}) "
              f"at {rec['prefix']}")
        return None
    notebook = args.notebook or _own_notebook()
    if kid is not None:
        params = {"target": args.target, **({"notebook": notebook} if notebook else {})}
        data = client.request("GET", f"kernels/{kid}/compare?{urllib.parse.urlencode(params)}")
        _prestart(kid, args.target)
    else:
        from ..envs import compare
        from ..envs._targets import resolve_target

        data = compare(_local_current(), resolve_target(args.target), notebook=notebook).to_json()
    if args.json:
        return data
    print(comparison_text(data))
    return None


def _prestart(kid: str, target: str) -> None:
    """Comparing is choosing: the server starts TARGET's kernel now, so a
    switch to it right after only swaps (issue 20). Best effort."""
    from . import client

    try:
        client.request("POST", f"kernels/{kid}/candidate", {"target": target}, timeout=10)
    except Exception:  # an env that cannot run is what compare itself reports
        pass


def _progress(label: str) -> Any:
    """The magics' elapsed-time status line (shared with ``%vm``)."""
    from .magics import _progress as progress

    return progress(label)


def _local_current() -> Any:
    from ..envs import resolve

    return resolve(sys.executable)


def _switch(kid: str, args: Any) -> Any:
    from . import _queued, carry, client

    body: dict[str, Any] = {"target": args.target, "when_idle": True}
    if _queued.can_drop():  # cells queued behind this one (Run All) move along
        body.update(cell=_queued.this_cell(), drops_queued=True)
    if args.timeout is not None:
        body["timeout"] = args.timeout
    folder = None
    try:
        if args.carry:
            # this kernel is busy running this magic: it dumps its variables
            # itself; the server has the new kernel load them
            folder = tempfile.mkdtemp(prefix="kernelswitch-carry-")
            carry.dump(folder, use_cloudpickle=True)
            body["carry_from"] = folder
        with _progress(f"Starting a kernel in {args.target}"):
            ans = client.request("POST", f"kernels/{kid}/env", body)
        if "queued" in ans:  # the server swaps when this cell ends
            # nothing of the queue runs before this cell ends: arming now is in time
            _queued.drop(list(ans["queued"]))
            _queued.armed()
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        return ans
    print(switch_text(ans))
    return None


def _install(args: Any) -> Any:
    from . import client

    q = urllib.parse.urlencode({"target": args.target})
    plan = client.request("GET", f"envs/install-ipykernel?{q}")
    command = " ".join(plan["command"])
    if not args.yes:
        if args.json:
            return plan
        print(f"this would run:\n  {command}\nrun `%pyenv install-ipykernel {args.target} --yes` "
              "to do it")
        return None
    print(f"running: {command}", flush=True)
    with _progress("Installing ipykernel"):
        done = client.request("POST", "envs/install-ipykernel",
                              {"target": args.target, "confirm": True}, timeout=900)
    if args.json:
        return done
    print(done["output"].rstrip()[-3000:])
    env = done["env"]
    print(f"{env['name']} is now {env['mode']}: {env['reason']}")
    return None


def _align(kid: str | None, args: Any, usage_error: type[Exception]) -> Any:
    """Show the align command; with ``--yes`` run it, streaming pip's output."""
    from . import client

    notebook = args.notebook or _own_notebook()
    if notebook is None:
        raise usage_error("no notebook to read the imports from: pass --notebook NB.ipynb")
    body: dict[str, Any] = {"target": args.target,
                            "notebook": os.path.abspath(os.path.expanduser(notebook))}
    if kid is not None:
        body["kernel"] = kid  # copy from the env this kernel runs in
    plan = client.request("POST", "envs/align", body)
    if not args.yes:
        if args.json:
            return plan
        print(_plan_text(plan, args.target))
        return None
    if not plan["installs"]:
        print(_plan_text(plan, args.target))
        return plan if args.json else None
    print(f"running: {plan['command_text']}", flush=True)
    result: dict[str, Any] = {}
    for line in client.stream("POST", "envs/align", {**body, "confirm": True}):
        if line.get("type") == "output":
            if not args.json:
                print(line["text"], end="", flush=True)
        elif line.get("type") == "result":
            result = line
    if args.json:
        return result
    done = ", ".join(f"{i['distribution']} {i['version'] or ''}".rstrip()
                     for i in result.get("installed", []))
    print(f"installed into {args.target}: {done or 'nothing'} "
          f"(exit code {result.get('returncode')})")
    if result.get("unmapped"):
        print(f"no distribution known for: {', '.join(result['unmapped'])}")
    return None


def _plan_text(plan: dict[str, Any], target: str) -> str:
    lines = []
    if not plan["installs"]:
        lines.append(f"nothing to install: {target} has what the notebook imports"
                     + (" (except what no distribution provides here)" if plan["unmapped"]
                        else ""))
    else:
        want = ", ".join(f"{i['distribution']} {i['version'] or ''} (import {i['import']})"
                         for i in plan["installs"])
        lines.append(f"{target} lacks: {want}")
        if plan.get("hint"):
            lines.append(plan["hint"])
        if plan["command_text"]:
            lines.append(f"this would run:\n  {plan['command_text']}\n"
                         f"run `%pyenv align {target} --yes` to do it")
    if plan["unmapped"]:
        lines.append(f"no distribution here provides: {', '.join(plan['unmapped'])}")
    return "\n".join(lines)
