"""Events pushed to clients: libvirt lifecycle, definitions, trays, hosts, env list.

Public API (stable): :class:`EventHub`, :class:`Subscriber`,
:func:`format_line`. See :mod:`.hub` for why it is shaped this way; the
message shapes are documented with the websocket
(:mod:`kernelswitch.server.events_handlers`).
"""

from __future__ import annotations

from .hub import EventHub
from .messages import format_line
from .queue import Subscriber

__all__ = ["EventHub", "Subscriber", "format_line"]
