"""Typing text into a guest fast, with every key arriving.

Public API (stable): ``await`` :func:`type_text` ``(backend, name, text)`` —
returns once the guest has been given the last key; :func:`hold_ms` ``(local)``,
the spacing it uses (:data:`HOLD_MS`, more on an overloaded local host).

Why not the VNC connection: QEMU's VNC server spaces key events by its
``key-delay-ms`` (10 ms, not settable through libvirt), so typing over RFB tops
out at 100 events/s — 48 chars/s measured for 4,096 characters (issue 15).
libvirt's ``sendKey`` (QMP ``send-key``) spaces them by the hold time we
give. Two limits decide how fast: QEMU's input queue takes 50 items (3 per
spaced event; more are dropped), and the guest must drain its PS/2
keyboard's 16-byte buffer in time, which it does only while its vCPU runs.
Measured on this host (2 cores, load 6-10, TCG guest, busybox ash): 1 ms per
event lost keys in every run; 2 ms typed 800 mixed-case characters at 166/s,
lower-case text at 160-240/s, but lost keys in some runs as the load rose
(hence :func:`hold_ms`); one call per character was limited by the call
itself (~10 ms), so keys go in chords of up to
:data:`~.keys.CHORD_KEYS` (:func:`~.keys.text_chords`), and a chord is sent
only when fewer than :data:`AHEAD_MS` of earlier events are still queued.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Awaitable, Callable
from typing import Any

from .keys import text_chords

__all__ = ["AHEAD_MS", "ENTER_PAUSE_MS", "HOLD_MS", "MAX_HOLD_MS", "hold_ms", "type_text"]

#: Milliseconds QEMU waits after each key event of a chord (see the module docstring).
HOLD_MS = 2
#: The slowest pacing (QEMU's own VNC spacing), for a local host with more
#: runnable threads than cores: there a TCG guest's vCPU waits its turn long
#: enough to overflow the 16-byte buffer. Measured with the test below at a
#: load of 7.5 per core: 2 ms lost whole words; at 4-5 per core 2 ms lost a key
#: in about one of three 4,000-character texts, 3 ms in one of six.
MAX_HOLD_MS = 10

#: Milliseconds of earlier events that may still be queued in QEMU when a chord is sent.
AHEAD_MS = 8
#: Milliseconds to wait after Enter: the guest runs a command then, and keys
#: typed meanwhile were the ones lost most often (a shell echoing 900
#: characters to a serial port keeps a TCG guest busy for ~0.1 s).
ENTER_PAUSE_MS = 150
_ENTER = 0x1C


def hold_ms(local: bool = True) -> int:
    """:data:`HOLD_MS`, stretched by the load per core of a local host (up to
    :data:`MAX_HOLD_MS`): the guest drains its keyboard only while its vCPU runs."""
    if not local:
        return HOLD_MS
    try:
        load = os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:
        return HOLD_MS
    return HOLD_MS if load <= 1 else min(MAX_HOLD_MS, math.ceil(HOLD_MS * load))


async def type_text(
    backend: Any,
    name: str,
    text: str,
    fallback: Callable[[str], Awaitable[None]] | None = None,
) -> None:
    """Type *text* (US layout) on VM *name* through ``backend.send_chord``.

    *fallback* ``(text)`` types over the console's own VNC connection: used
    when libvirt cannot be reached before the first key went out (libvirtd
    restarting), since QEMU's VNC server needs no libvirtd. Once keys went
    through libvirt, a failure is raised: the rest is not guessed at.
    """
    from ..vm.errors import HostError

    hold = hold_ms(backend.is_local(name))
    loop = asyncio.get_running_loop()
    done_at = loop.time()  # when QEMU will have passed on every event sent so far
    for i, keys in enumerate(text_chords(text)):
        ahead = done_at - loop.time()
        if ahead > AHEAD_MS / 1000:
            await asyncio.sleep(ahead - AHEAD_MS / 1000)
        try:
            await backend.send_chord(name, keys, hold)
        except HostError:
            if i or fallback is None:
                raise
            await fallback(text)
            return
        done_at = max(done_at, loop.time()) + 2 * len(keys) * hold / 1000
        if _ENTER in keys:
            done_at += (ENTER_PAUSE_MS + AHEAD_MS) / 1000
    await asyncio.sleep(max(0.0, done_at - loop.time()))
