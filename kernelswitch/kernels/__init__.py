"""Switchable kernels: launch a Python kernel in any environment and move a
running kernel to another one, make-before-break (DESIGN decisions 7-9).

No web or notebook code here; the server gives it a ``rewire`` callback for
its websockets.

Public API (stable):

``KernelSwitchProvisioner``
    The ``kernelswitch-provisioner`` kernel provisioner (launch modes,
    launch environment, server URL and token for the kernel side).
``Switcher(rewire)``
    ``await switch(kernel_id, km, record, carry_vars=, timeout=)`` and
    ``current(km)``; see :mod:`kernelswitch.kernels._switch`.
``CandidatePool`` (:mod:`kernelswitch.kernels._pool`)
    Candidates pre-started when the user selects an env; the switcher takes
    the ready one (``switcher.candidates``) instead of starting its own.
``SwitchFailed``
    Raised by ``switch`` with ``.answer`` (the REST answer, ``ok: false``).
``configure(server_url=, token=, version_policy=, timeout=)``
    Called once at server start: captures the baseline environment.
``LaunchTarget``, ``launch_env``, ``launch_argv``
    The launch rules themselves (tests and benchmarks use them).
"""

from __future__ import annotations

from ._launch import LaunchTarget, configure, kernelside_path, launch_argv, launch_env
from ._pool import CandidatePool
from ._switch import Switcher, SwitchFailed
from .errors import (
    CandidateExited,
    CandidateTimeout,
    EnvIncompatible,
    IpykernelImportFailed,
    KernelNotFound,
    NotSwitchable,
    SwitchBusy,
    SwitchError,
    VersionPolicyRefused,
)
from .provisioner import KernelSwitchProvisioner

__all__ = [
    "CandidateExited",
    "CandidatePool",
    "CandidateTimeout",
    "EnvIncompatible",
    "IpykernelImportFailed",
    "KernelNotFound",
    "KernelSwitchProvisioner",
    "LaunchTarget",
    "NotSwitchable",
    "SwitchBusy",
    "SwitchError",
    "SwitchFailed",
    "Switcher",
    "VersionPolicyRefused",
    "configure",
    "kernelside_path",
    "launch_argv",
    "launch_env",
]
