"""kernelswitch: virtual machines and hot-switchable Python environments in Jupyter.

Only hooks live here; everything heavy (IPython, libvirt, gi, ipywidgets) is
imported lazily by the modules that need it.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .server.app import KernelSwitchApp

    return [{"module": "kernelswitch", "app": KernelSwitchApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "kernelswitch"}]


def load_ipython_extension(ipython: Any) -> None:
    from .kernelside.magics import KernelSwitchMagics

    ipython.register_magics(KernelSwitchMagics)
