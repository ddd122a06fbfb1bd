"""The live VM console widget and its Python API (works without a browser).

Public API (stable): :class:`Console` ``(vm, scale="fit")``:

- ``frame`` -> the current screen, an H x W x 4 uint8 numpy array (RGBA)
- ``screenshot(path=None)`` -> PNG bytes (written to *path* when given)
- ``type(text)`` types text as keystrokes (US layout); ``press("ctrl+alt+delete")``
- ``click(x, y, button="left")`` / ``move(x, y)`` with the absolute pointer
- ``wait_for(region=None, image=None, timeout=60)`` waits until the screen (or a
  region ``(x, y, w, h)`` of it) changes, or until it matches *image* (an array
  or a PNG path), and returns the frame; :class:`ConsoleTimeout` otherwise.

The browser view opens its own websocket to the server
(``kernelswitch/api/vms/{name}/console``): frames never pass through the
kernel. The Python calls use the server's REST API (``framebuffer``,
``screenshot``, ``console/input``), so they work with no browser open.
Kernel side: numpy and Pillow are imported only when a call needs them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from traitlets import Bool, Float, Int, TraitError, Unicode, validate

from ..errors import KernelSwitchError
from .client import fetch, request
from .widgets import _KSWidget

if TYPE_CHECKING:
    import numpy as np

SCALES = ("fit", "1:1", "integer")
BUTTONS = {"left": 1, "middle": 2, "right": 4}


class ConsoleTimeout(KernelSwitchError):
    code = "console_timeout"
    http_status = 408


def _get_bytes(path: str, timeout: float = 60.0) -> tuple[bytes, Any]:
    """GET a binary endpoint of the API: (body, headers)."""
    return fetch("GET", path, timeout=timeout)


class Console(_KSWidget):
    """A VM's screen, keyboard, mouse and sound in a notebook cell."""

    _view = Unicode("console").tag(sync=True)

    vm = Unicode(help="Name of the VM.").tag(sync=True)
    scale = Unicode("fit", help="fit (the cell's width), 1:1 or integer (crisp zoom).").tag(
        sync=True
    )
    status = Unicode("", help="What the browser view shows: connected, stopped, ...").tag(sync=True)
    width = Int(0, help="Guest screen width the view last painted.").tag(sync=True)
    height = Int(0, help="Guest screen height the view last painted.").tag(sync=True)
    audio = Bool(False, help="Play the VM's sound in the browser.").tag(sync=True)
    volume = Float(1.0, min=0.0, max=1.0).tag(sync=True)
    muted = Bool(False).tag(sync=True)

    def __init__(self, vm: str, scale: str = "fit", **kwargs: Any) -> None:
        if not isinstance(vm, str) or not vm:
            raise KernelSwitchError("Console needs a VM name, e.g. Console('my-vm').")
        super().__init__(vm=vm, scale=scale, **kwargs)

    @validate("scale")
    def _check_scale(self, proposal: Any) -> str:
        value = proposal["value"]
        if value not in SCALES:
            raise TraitError(f"scale must be one of {', '.join(SCALES)}, not {value!r}")
        return str(value)

    @property
    def _path(self) -> str:
        return f"vms/{quote(self.vm, safe='')}"

    # ------------------------------------------------------------ screen

    @property
    def frame(self) -> np.ndarray:
        """The current screen: H x W x 4 uint8 (RGBA), straight from the server."""
        import numpy as np

        body, headers = _get_bytes(f"{self._path}/framebuffer")
        w = int(headers["X-Framebuffer-Width"])
        h = int(headers["X-Framebuffer-Height"])
        return np.frombuffer(body, np.uint8).reshape(h, w, 4)

    def screenshot(self, path: str | Path | None = None) -> bytes:
        """The screen as PNG bytes; also written to *path* when given."""
        png, _ = _get_bytes(f"{self._path}/screenshot")
        if path is not None:
            Path(path).write_bytes(png)
        return png

    # ------------------------------------------------------------ input

    def _input(self, body: dict[str, Any]) -> None:
        request("POST", f"{self._path}/console/input", body)

    def type(self, text: str) -> None:
        """Type *text* as keystrokes (a US keyboard; ``\\n`` is Enter)."""
        self._input({"text": text})

    def press(self, keys: str) -> None:
        """Press a combination such as ``"ctrl+alt+delete"``, ``"alt+f2"``, ``"enter"``."""
        self._input({"press": keys})

    def move(self, x: int, y: int) -> None:
        self._input({"pointer": {"x": x, "y": y, "buttons": 0}})

    def click(self, x: int, y: int, button: str = "left") -> None:
        """Click at guest pixel (x, y) with the absolute pointer."""
        if button not in BUTTONS:
            raise KernelSwitchError(f"button must be one of {', '.join(BUTTONS)}, not {button!r}")
        self._input({"pointer": {"x": x, "y": y, "buttons": BUTTONS[button]}})
        self._input({"pointer": {"x": x, "y": y, "buttons": 0}})

    # ------------------------------------------------------------ waiting

    def wait_for(
        self,
        region: tuple[int, int, int, int] | None = None,
        image: Any = None,
        *,
        timeout: float = 60.0,
        tolerance: float = 0.0,
        interval: float = 0.25,
    ) -> np.ndarray:
        """Wait until *region* changes, or until it matches *image*; return the frame.

        *region* is ``(x, y, w, h)`` in guest pixels (default: the whole screen).
        *image* is an H x W x 3/4 array or a PNG path of the region's size;
        *tolerance* is the mean absolute difference (0-255) still called a match.
        """
        import numpy as np

        want = None if image is None else self._load(image)
        deadline = time.monotonic() + timeout
        start = self._crop(self.frame, region)
        while True:
            frame = self.frame
            part = self._crop(frame, region)
            if want is None:
                if part.shape != start.shape or not np.array_equal(part, start):
                    return frame
            elif part.shape[:2] == want.shape[:2]:
                diff = np.abs(part[..., :3].astype(np.int16) - want[..., :3].astype(np.int16))
                if float(diff.mean()) <= tolerance:
                    return frame
            if time.monotonic() >= deadline:
                what = "to change" if want is None else "to match the image"
                where = f"region {region}" if region else "screen"
                raise ConsoleTimeout(
                    f"the {where} of VM {self.vm!r} did not come {what} within {timeout:g} s; "
                    "look at console.frame, or raise timeout/tolerance"
                )
            time.sleep(interval)

    @staticmethod
    def _crop(frame: np.ndarray, region: tuple[int, int, int, int] | None) -> np.ndarray:
        if region is None:
            return frame
        x, y, w, h = region
        return frame[y : y + h, x : x + w]

    @staticmethod
    def _load(image: Any) -> np.ndarray:
        import numpy as np

        if isinstance(image, (str, Path)):
            from PIL import Image

            return np.asarray(Image.open(image).convert("RGBA"))
        arr = np.asarray(image)
        if arr.ndim != 3 or arr.shape[2] not in (3, 4):
            raise KernelSwitchError("image must be an H x W x 3 or H x W x 4 array, or a PNG path")
        return arr
