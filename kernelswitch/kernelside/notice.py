"""A message from the server shown in the notebook, once, with the first cell.

Why: a kernel's own start has no cell to print into (outputs without a parent
cell are dropped by the front ends), yet a notebook whose saved environment
is gone must say so where the user looks (issue 16, finding 5). The
provisioner passes the text in ``KERNELSWITCH_NOTICE`` and arms this hook;
the first cell's output starts with it.

Public API: :func:`arm` (called by an ``exec_lines`` entry at kernel start).
"""

from __future__ import annotations

import os
import sys
from typing import Any

ENV = "KERNELSWITCH_NOTICE"


def arm() -> None:
    text = os.environ.pop(ENV, "")
    if not text:
        return
    from IPython import get_ipython

    ip = get_ipython()
    if ip is None:
        return

    def show(*_: Any) -> None:
        ip.events.unregister("pre_run_cell", show)
        print(f"kernelswitch: {text}", file=sys.stderr, flush=True)

    ip.events.register("pre_run_cell", show)
