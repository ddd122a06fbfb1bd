"""Carry helpers that run *inside* kernels (old and new) during a switch.

Each name of the user namespace is pickled on its own (cloudpickle when
asked and importable, so classes and functions defined in the notebook travel
by value), and loaded on its own, so one bad object never costs the others.
Both sides write a small JSON report. Only the standard library is needed.

Modules (``np``, ``sys``) are never pickled: whether pickle can take one
depended on the pickler (cloudpickle takes them by reference, pickle refuses),
so the same notebook got "cannot pickle" in one switch and "carried" in the
next. They are named instead and re-imported by the new kernel under the
same name ("reimported"), or listed as not carried when the new env cannot
import them.

Public API: ``dump(folder, use_cloudpickle)``, ``load(folder)`` (they act on
the running IPython shell), ``has_cloudpickle()``.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import pickle
import types
from typing import Any


def has_cloudpickle() -> bool:
    return importlib.util.find_spec("cloudpickle") is not None


def _shell() -> Any:
    from IPython import get_ipython

    ip = get_ipython()
    if ip is None:
        raise RuntimeError("carry runs inside an IPython kernel")
    return ip


def dump(folder: str, use_cloudpickle: bool) -> None:
    """Pickle the user's variables into ``folder`` (blobs.pickle, dump.json)."""
    pk: Any = pickle
    if use_cloudpickle and has_cloudpickle():
        import cloudpickle

        pk = cloudpickle
    ip = _shell()
    hidden = set(ip.user_ns_hidden)
    blobs: dict[str, bytes] = {}
    failed: dict[str, str] = {}
    modules: dict[str, str] = {}
    for name, value in list(ip.user_ns.items()):
        if name.startswith("_") or name in hidden:
            continue
        if isinstance(value, types.ModuleType):
            modules[name] = value.__name__
            continue
        try:
            blobs[name] = pk.dumps(value)
        except Exception as e:
            failed[name] = f"cannot be pickled: {type(e).__name__}: {e}"
    with open(os.path.join(folder, "blobs.pickle"), "wb") as f:
        pickle.dump(blobs, f)
    with open(os.path.join(folder, "dump.json"), "w") as f:
        json.dump({"failed": failed, "pickler": pk.__name__, "modules": modules}, f)


def load(folder: str) -> None:
    """Load what :func:`dump` wrote into this kernel's namespace (load.json)."""
    ip = _shell()
    with open(os.path.join(folder, "blobs.pickle"), "rb") as f:
        blobs = pickle.load(f)
    with open(os.path.join(folder, "dump.json")) as f:
        modules = json.load(f).get("modules", {})
    loaded: list[str] = []
    failed: dict[str, str] = {}
    reimported: list[str] = []
    for name, module in modules.items():
        try:
            ip.user_ns[name] = importlib.import_module(module)
            reimported.append(name)
        except Exception as e:
            failed[name] = f"module {module} cannot be imported in the new env: {e}"
    for name, blob in blobs.items():
        try:
            ip.user_ns[name] = pickle.loads(blob)
            loaded.append(name)
        except Exception as e:
            failed[name] = f"cannot be loaded in the new env: {type(e).__name__}: {e}"
    with open(os.path.join(folder, "load.json"), "w") as f:
        json.dump({"loaded": loaded, "failed": failed, "reimported": reimported}, f)
