"""Python side of the kernelswitch notebook widgets (anywidget).

All widget front ends live in one ESM bundle, ``static/widgets.js`` (built
from ``widgets/src`` by ``npm run build``); each class names its view in the
``_view`` trait and the bundle's ``render`` dispatches on it.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any

from traitlets import Bool, Dict, List, Unicode

from ..errors import KernelSwitchError

try:
    import anywidget
except ImportError:  # an env with only ipykernel: the magics work, widgets say how
    anywidget = None  # type: ignore[assignment]  # checked before use

_BUNDLE = Path(__file__).parent.parent / "static" / "widgets.js"


class FrontEndMissing(KernelSwitchError):
    """The widget bundle was not built."""

    code = "frontend_missing"
    http_status = 500


@functools.cache
def _bundle() -> str:
    """The bundle's text, read once per kernel (not once per widget)."""
    if not _BUNDLE.is_file():
        raise FrontEndMissing(
            f"the widget front end {_BUNDLE} is missing: run `npm ci && npm run build` "
            "in the kernelswitch source tree, or reinstall kernelswitch from a wheel"
        )
    return _BUNDLE.read_text(encoding="utf-8")


class WidgetsMissing(KernelSwitchError):
    """This kernel's env has no anywidget/ipywidgets."""

    code = "widgets_missing"
    http_status = 500


def _missing(*_: Any, **__: Any) -> Any:
    raise WidgetsMissing(
        f"the kernelswitch widgets need anywidget and ipywidgets, which this kernel's env "
        f"({sys.prefix}) does not have; install them with "
        f"`{sys.executable} -m pip install anywidget ipywidgets` and restart the kernel, "
        "or use the %pyenv / %vm magics and the kernelswitch sidebar, which need neither"
    )


if anywidget is not None:

    class _KSWidget(anywidget.AnyWidget):
        """Base of kernelswitch widgets: the shared bundle and the view name."""

        _view = Unicode("").tag(sync=True)

        def __init__(self, **kwargs: Any) -> None:
            # Read at construction (not import) so a missing build is a clear error
            # when a widget is made, not when the module is imported.
            self._esm = _bundle()
            super().__init__(**kwargs)

else:

    class _KSWidget:  # type: ignore[no-redef]
        """Stand-in that explains how to get the widgets."""

        __init__ = _missing


class EnvPicker(_KSWidget):
    """Lists the Python environments the server found; discover, compare, align, apply.

    The front end asks the Jupyter server's REST API (``GET kernelswitch/api/envs``)
    directly, so the list is the server's, and writes it back into ``envs``. It
    marks the env this kernel runs in (the server's answer, or ``sys.prefix``
    after 2 s), shows the comparison of a selected env, and an explicit Apply
    switches this kernel (then this widget's kernel side is gone with the old
    process; the view keeps working).
    """

    _view = Unicode("env-picker").tag(sync=True)

    envs = List(Dict(), help="Env records as the REST API returns them.").tag(sync=True)
    partial = Bool(False, help="True when discovery stopped early.").tag(sync=True)
    selected = Unicode("", help="Prefix of the selected environment ('' for none).").tag(sync=True)
    status = Unicode("loading", help="loading, ready or error.").tag(sync=True)
    error = Unicode("", help="Why the last request failed.").tag(sync=True)
    kernel_id = Unicode(
        os.environ.get("KERNELSWITCH_KERNEL_ID", ""),
        help="This kernel's id on the server ('' if kernelswitch did not start it).",
    ).tag(sync=True)
    own_prefix = Unicode(sys.prefix, help="Where this kernel runs, by its own account.").tag(
        sync=True
    )
    current = Unicode("", help="Prefix of the env the kernel runs in (asked from the server).").tag(
        sync=True
    )
    notebook = Unicode(
        os.environ.get("JPY_SESSION_NAME", ""),
        help="The notebook this kernel serves (jupyter_server names it at launch): the "
        "picker recommends the envs next to it and compares with what it imports.",
    ).tag(sync=True)

    def refresh(self, rescan: bool = True) -> None:
        """Ask the front end to fetch the list again (``rescan``: bypass the server's cache)."""
        self.send({"type": "refresh", "rescan": rescan})

    @property
    def selected_env(self) -> dict[str, Any] | None:
        """The record of the selected environment, if any."""
        for env in self.envs:
            if env.get("prefix") == self.selected:
                return dict(env)
        return None
