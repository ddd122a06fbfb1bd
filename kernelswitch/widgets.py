"""Public import path of the notebook widgets (``from kernelswitch.widgets import EnvPicker``).

They live on the kernel side, :mod:`kernelswitch.kernelside.widgets`.
"""

from .kernelside.widgets import EnvPicker

__all__ = ["EnvPicker"]
