"""Errors of the switching engine.

Every refusal or failure of a switch is one of these; the REST API answers
with its ``code`` and the running kernel is untouched (the candidate failed,
never the kernel the user works in).
"""

from __future__ import annotations

from ..errors import KernelSwitchError


class SwitchError(KernelSwitchError):
    """A switch could not be done; the kernel keeps running where it was."""

    code = "switch_failed"
    http_status = 400


class KernelNotFound(SwitchError):
    code = "kernel_not_found"
    http_status = 404


class NotSwitchable(SwitchError):
    """The kernel is not a Python kernel started through kernelswitch."""

    code = "not_switchable"
    http_status = 422


class SwitchBusy(SwitchError):
    """Another switch of the same kernel is under way."""

    code = "switch_busy"
    http_status = 409


class EnvIncompatible(SwitchError):
    """The target can run neither natively nor in overlay mode."""

    code = "env_incompatible"
    http_status = 422


class VersionPolicyRefused(SwitchError):
    """``version_policy = "strict"`` and the target's major.minor differs."""

    code = "version_policy"
    http_status = 422


class CandidateExited(SwitchError):
    """The candidate kernel process ended before it answered ``kernel_info``."""

    code = "kernel_exited"
    http_status = 502


class IpykernelImportFailed(CandidateExited):
    """The candidate started but could not import ipykernel (a broken install)."""

    code = "ipykernel_import_failed"
    http_status = 502


class CandidateTimeout(SwitchError):
    """The candidate did not answer ``kernel_info`` in time."""

    code = "kernel_timeout"
    http_status = 504


class AskerGone(SwitchError):
    """The cell that asked for the switch ended (interrupted?) before it was ready."""

    code = "switch_cancelled"
    http_status = 409
