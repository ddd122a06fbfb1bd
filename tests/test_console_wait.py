"""``Console.wait_for`` rules without a VM (issue 18): a blinking cursor is not
a change, ``stable=`` waits for quiet, Ctrl+C ends a wait in one line."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest


def _frames(monkeypatch: pytest.MonkeyPatch, frames: list[np.ndarray]) -> Any:
    from kernelswitch.kernelside import console as mod

    seq = iter(frames)
    last = [frames[0]]

    def frame(self: Any) -> np.ndarray:
        last[0] = next(seq, last[0])
        return last[0]

    monkeypatch.setattr(mod.Console, "frame", property(frame))
    return mod.Console("vm-x")


def _screen(cursor: bool = False, text: bool = False) -> np.ndarray:
    f = np.zeros((400, 720, 4), np.uint8)
    if cursor:
        f[14:16, 0:9] = 170  # an underline cursor: 18 pixels
    if text:
        f[0:14, 0:9:2] = 170  # a typed character
    return f


def test_a_blinking_cursor_is_no_change_a_character_is(monkeypatch: pytest.MonkeyPatch) -> None:
    from kernelswitch.kernelside.console import ConsoleTimeout

    blink = [_screen(i % 2 == 0) for i in range(20)]
    c = _frames(monkeypatch, blink)
    with pytest.raises(ConsoleTimeout, match="did not come to change"):
        c.wait_for(timeout=0.2, interval=0.01)
    c = _frames(monkeypatch, [*blink[:4], _screen(text=True)])
    assert c.wait_for(timeout=5, interval=0.01)[0:14, 0].any()
    c = _frames(monkeypatch, blink)  # every pixel counts with min_changed=0
    assert c.wait_for(timeout=5, interval=0.01, min_changed=0).ndim == 3


def test_stable_and_ignore(monkeypatch: pytest.MonkeyPatch) -> None:
    from kernelswitch.kernelside.console import ConsoleTimeout

    busy = [_screen(text=i % 2 == 0) for i in range(200)]
    c = _frames(monkeypatch, busy)
    with pytest.raises(ConsoleTimeout, match=r"stay unchanged for 0\.1 s"):
        c.wait_for(stable=0.1, timeout=0.3, interval=0.005)
    c = _frames(monkeypatch, busy)  # the changing corner ignored: stable at once
    assert c.wait_for(stable=0.05, ignore=[(0, 0, 16, 16)], timeout=2, interval=0.005).ndim == 3


def test_ctrl_c_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from kernelswitch.kernelside import console as mod

    def interrupted(self: Any) -> np.ndarray:
        raise KeyboardInterrupt

    monkeypatch.setattr(mod.Console, "frame", property(interrupted))
    c = mod.Console("vm-x")
    with pytest.raises(KeyboardInterrupt) as e:
        c.wait_for(timeout=5)
    assert isinstance(e.value, mod.ConsoleWaitInterrupted)
    assert e.value.__cause__ is None and e.value.__suppress_context__
    assert e.value._render_traceback_() == ["KeyboardInterrupt: wait_for on VM 'vm-x' interrupted"]
