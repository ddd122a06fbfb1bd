"""The live VM console widget and its Python API (works without a browser).

Public API (stable): :class:`Console` ``(vm, scale="fit")``:

- ``frame`` -> the current screen, an H x W x 4 uint8 numpy array (RGBA)
- ``screenshot(path=None)`` -> PNG bytes; ``screenshot(path)`` writes it, returns None
- ``type(text)`` types text as keystrokes (US layout); ``press("ctrl+alt+delete")``
- ``click(x, y, button="left")`` / ``move(x, y)`` with the absolute pointer
- ``wait_for(region=None, image=None, stable=None, ignore=(), timeout=60)`` waits
  until the screen (or a region ``(x, y, w, h)`` of it) changes by more than a
  blinking cursor, until it matches *image* (an array or a PNG path), or until
  it stayed unchanged for *stable* seconds, and returns the frame;
  :class:`ConsoleTimeout` otherwise.

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


#: Differing pixels that make a change: more than a blinking text cursor (9 x 2).
MIN_CHANGED = 32


class ConsoleTimeout(KernelSwitchError):
    code = "console_timeout"
    http_status = 408


class ConsoleWaitInterrupted(KeyboardInterrupt):
    """Ctrl+C during a wait: still a KeyboardInterrupt (scripts stop), shown by
    IPython as this one line instead of a traceback through urllib."""

    def _render_traceback_(self) -> list[str]:
        return [f"KeyboardInterrupt: {self}"]


def _changed(a: np.ndarray, b: np.ndarray, min_changed: int) -> bool:
    """More than *min_changed* pixels differ (or the size changed)."""
    import numpy as np

    if a.shape != b.shape:
        return True
    return int(np.count_nonzero(np.any(a != b, axis=-1))) > min_changed


def _get_bytes(path: str, timeout: float = 60.0) -> tuple[bytes, Any]:
    """GET a binary endpoint of the API: (body, headers)."""
    return fetch("GET", path, timeout=timeout)


class Console(_KSWidget):
    """A VM's screen, keyboard, mouse and sound in a notebook cell."""

    _view = Unicode("console").tag(sync=True)

    vm = Unicode(help="Name of the VM.").tag(sync=True)
    uri = Unicode(
        "", help="The VM's host (a configured libvirt URI or alias); '' when its name says."
    ).tag(sync=True)
    scale = Unicode("fit", help="fit (the cell's width), 1:1 or integer (crisp zoom).").tag(
        sync=True
    )
    status = Unicode("", help="What the browser view shows: connected, stopped, ...").tag(sync=True)
    width = Int(0, help="Guest screen width the view last painted.").tag(sync=True)
    height = Int(0, help="Guest screen height the view last painted.").tag(sync=True)
    audio = Bool(False, help="Play the VM's sound in the browser.").tag(sync=True)
    volume = Float(1.0, min=0.0, max=1.0).tag(sync=True)
    muted = Bool(False).tag(sync=True)

    def __init__(self, vm: str, scale: str = "fit", uri: str = "", **kwargs: Any) -> None:
        if not isinstance(vm, str) or not vm:
            raise KernelSwitchError("Console needs a VM name, e.g. Console('my-vm').")
        super().__init__(vm=vm, scale=scale, uri=uri or "", **kwargs)

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

    def screenshot(self, path: str | Path | None = None) -> bytes | None:
        """The screen as PNG bytes; with *path*, written there and nothing returned
        (as a cell's last line it must not print ~100 KB of bytes)."""
        png, _ = _get_bytes(f"{self._path}/screenshot")
        if path is None:
            return png
        Path(path).write_bytes(png)
        return None

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
        stable: float | None = None,
        ignore: list[tuple[int, int, int, int]] | tuple[()] = (),
        min_changed: int = MIN_CHANGED,
        timeout: float = 60.0,
        tolerance: float = 0.0,
        interval: float = 0.25,
    ) -> np.ndarray:
        """Wait until *region* changes, until it matches *image*, or (``stable=SECONDS``)
        until it stopped changing for that long; return the frame.

        *region* is ``(x, y, w, h)`` in guest pixels (default: the whole screen);
        *ignore* lists regions (screen coordinates) never looked at, e.g. a clock.
        A change is more than *min_changed* differing pixels, so a blinking text
        cursor (18 pixels) is not one; 0 counts every pixel.
        *image* is an H x W x 3/4 array or a PNG path of the region's size;
        *tolerance* is the mean absolute difference (0-255) still called a match.
        Ctrl+C (interrupt the kernel) ends the wait with one line.
        """
        try:
            return self._wait(region, image, stable, list(ignore), min_changed, timeout,
                              tolerance, interval)  # fmt: skip
        except KeyboardInterrupt:
            raise ConsoleWaitInterrupted(f"wait_for on VM {self.vm!r} interrupted") from None

    def _wait(
        self,
        region: tuple[int, int, int, int] | None,
        image: Any,
        stable: float | None,
        ignore: list[tuple[int, int, int, int]],
        min_changed: int,
        timeout: float,
        tolerance: float,
        interval: float,
    ) -> np.ndarray:
        import numpy as np

        want = None if image is None else self._load(image)
        deadline = time.monotonic() + timeout
        ref = self._view_of(self.frame, region, ignore)
        ref_at = time.monotonic()
        while True:
            frame = self.frame
            part = self._view_of(frame, region, ignore)
            if want is not None:
                if part.shape[:2] == want.shape[:2]:
                    diff = np.abs(part[..., :3].astype(np.int16) - want[..., :3].astype(np.int16))
                    if float(diff.mean()) <= tolerance:
                        return frame
            elif _changed(ref, part, min_changed):
                if stable is None:
                    return frame
                ref, ref_at = part, time.monotonic()
            elif stable is not None and time.monotonic() - ref_at >= stable:
                return frame
            if time.monotonic() >= deadline:
                where = f"region {region}" if region else "screen"
                if want is not None:
                    what = "come to match the image"
                elif stable is not None:
                    what = f"stay unchanged for {stable:g} s"
                else:
                    what = "come to change"
                raise ConsoleTimeout(
                    f"the {where} of VM {self.vm!r} did not {what} within {timeout:g} s; "
                    "look at console.frame, or raise timeout/tolerance"
                )
            time.sleep(interval)

    def _view_of(
        self,
        frame: np.ndarray,
        region: tuple[int, int, int, int] | None,
        ignore: list[tuple[int, int, int, int]],
    ) -> np.ndarray:
        """*region* of *frame* with the *ignore* regions blanked (a copy if any)."""
        if ignore:
            frame = frame.copy()
            for x, y, w, h in ignore:
                frame[y : y + h, x : x + w] = 0
        return self._crop(frame, region)

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
