"""Errors of the environment engine.

Each message says what was wrong with the path the user gave and what to do
about it; ``details`` carries the path for the REST API.
"""

from __future__ import annotations

from ..errors import KernelSwitchError


class EnvError(KernelSwitchError):
    """A target could not be used as a Python environment."""

    code = "env_error"
    http_status = 400


class EnvNotFound(EnvError):
    """Nothing exists at the given path."""

    code = "env_not_found"
    http_status = 404


class NotAPython(EnvError):
    """The path exists but is neither an interpreter nor an environment."""

    code = "env_not_python"
    http_status = 422


class BrokenSymlink(EnvError):
    """The path is a symlink whose target does not exist."""

    code = "env_broken_symlink"
    http_status = 422


class BaseInterpreterGone(EnvError):
    """A venv whose base interpreter (``home`` in pyvenv.cfg) was removed."""

    code = "env_base_gone"
    http_status = 422


class EnvUnreadable(EnvError):
    """The environment exists but its files cannot be read."""

    code = "env_unreadable"
    http_status = 403


class InvalidEnvConfig(EnvError):
    """``pyvenv.cfg`` (or conda metadata) is not what a Python tool writes."""

    code = "env_invalid_config"
    http_status = 422


class NotebookError(EnvError):
    """The notebook given to ``compare`` cannot be read as a notebook."""

    code = "notebook_invalid"
    http_status = 422
