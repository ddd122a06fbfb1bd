"""Typing text into a guest fast, with every key arriving.

Public API (stable): ``await`` :func:`type_text` ``(backend, name, text)`` —
returns once the guest has been given the last key; :data:`HOLD_MS`.

Why not the VNC connection: QEMU's VNC server spaces key events by its
``key-delay-ms`` (10 ms, not settable through libvirt), so typing over RFB tops
out at 100 events/s — 48 chars/s measured for 4,096 characters (issue 15).
libvirt's ``sendKey`` (QMP ``send-key``) spaces them by the hold time we
give. Two limits decide how fast: QEMU's input queue takes 50 items (3 per
spaced event; more are dropped), and the guest must drain its PS/2
keyboard's 16-byte buffer in time. Measured on this host (2 cores, load
6-10, TCG guest, 800 mixed-case characters into busybox ash): 1 ms per event
lost a key in every run, 2 ms lost none (166 chars/s mixed case; lower-case
text, ~2.1 events a character, ~240/s), 3 ms 115/s; one call per character
was limited by the call itself (~10 ms), so keys go in chords of up to
:data:`~.keys.CHORD_KEYS` (:func:`~.keys.text_chords`), and a chord is sent
only when fewer than :data:`AHEAD_MS` of earlier events are still queued.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .keys import text_chords

__all__ = ["AHEAD_MS", "ENTER_PAUSE_MS", "HOLD_MS", "type_text"]

#: Milliseconds QEMU waits after each key event of a chord (see the module docstring).
HOLD_MS = 2
#: Milliseconds of earlier events that may still be queued in QEMU when a chord is sent.
AHEAD_MS = 8
#: Milliseconds to wait after Enter: the guest runs a command then, and keys
#: typed meanwhile were the ones lost most often (a shell echoing 900
#: characters to a serial port keeps a TCG guest busy for ~0.1 s).
ENTER_PAUSE_MS = 150
_ENTER = 0x1C


async def type_text(backend: Any, name: str, text: str) -> None:
    """Type *text* (US layout) on VM *name* through ``backend.send_chord``."""
    loop = asyncio.get_running_loop()
    done_at = loop.time()  # when QEMU will have passed on every event sent so far
    for keys in text_chords(text):
        ahead = done_at - loop.time()
        if ahead > AHEAD_MS / 1000:
            await asyncio.sleep(ahead - AHEAD_MS / 1000)
        await backend.send_chord(name, keys, HOLD_MS)
        done_at = max(done_at, loop.time()) + 2 * len(keys) * HOLD_MS / 1000
        if _ENTER in keys:
            done_at += (ENTER_PAUSE_MS + AHEAD_MS) / 1000
    await asyncio.sleep(max(0.0, done_at - loop.time()))
