"""One Python kernel in the launcher.

``pip install kernelswitch`` installs a "Python (kernelswitch)" kernelspec whose
kernels always go through the kernelswitch provisioner. While the server makes
that provisioner the default (``KernelSwitchApp.switchable_kernels``), the stock
"Python 3 (ipykernel)" is switchable too, and a second Python tile with no hint
only makes a user wonder which to pick (issue #17). So the spec is left out of
the kernelspec *listing* (``GET /api/kernelspecs``: launcher, kernel chooser)
but can still be started by name: notebooks saved with it keep opening.
"""

from __future__ import annotations

import inspect
from typing import Any

#: The kernelspec ``jupyter-config/kernels/kernelswitch`` installs.
OWN_KERNELSPEC = "kernelswitch"


def hide_own_kernelspec(ksm: Any) -> None:
    """Drop our spec from *ksm*'s ``get_all_specs`` (this server's instance only).

    Only the listing: ``get_kernel_spec("kernelswitch")``, which starting a
    kernel uses, is untouched. An instance attribute rather than a subclass,
    because the server made its KernelSpecManager before extensions load.
    """
    if getattr(ksm, "_kernelswitch_hidden", False):
        return
    listing = ksm.get_all_specs

    def get_all_specs() -> Any:
        specs = listing()
        if inspect.isawaitable(specs):  # an async manager (a gateway's)

            async def later() -> dict[str, Any]:
                return _without_own(await specs)

            return later()
        return _without_own(specs)

    ksm.get_all_specs = get_all_specs
    ksm._kernelswitch_hidden = True


def _without_own(specs: dict[str, Any]) -> dict[str, Any]:
    """*specs* less ours, unless it is the only Python kernel left."""
    others = [
        name
        for name, info in specs.items()
        if name != OWN_KERNELSPEC
        and str((info.get("spec") or {}).get("language", "")).lower() == "python"
    ]
    if not others:
        return specs
    return {name: info for name, info in specs.items() if name != OWN_KERNELSPEC}
