"""Public import path of the notebook widgets (``from kernelswitch.widgets import Console``).

They live on the kernel side, :mod:`kernelswitch.kernelside.widgets`.
"""

from .kernelside.console import Console, ConsoleTimeout
from .kernelside.serial import Serial, SerialTimeout
from .kernelside.vm_widgets import CreateVM, VMManager
from .kernelside.widgets import EnvPicker

__all__ = [
    "Console", "ConsoleTimeout", "CreateVM", "EnvPicker", "Serial", "SerialTimeout", "VMManager",
]  # fmt: skip
