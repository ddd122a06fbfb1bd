"""The kernel provisioner that launches Python kernels in a chosen environment.

Public API (stable):

``KernelSwitchProvisioner``
    Registered as ``kernelswitch-provisioner`` in the
    ``jupyter_client.kernel_provisioners`` entry-point group and made the
    default provisioner by the configuration kernelswitch installs, so every
    Python kernel the server starts (the stock ``python3`` kernelspec too) is
    launched through it. ``ks_target`` is the :class:`LaunchTarget` it runs;
    ``None`` before the first launch, when it picks the env recorded in the
    notebook's metadata (``kernelswitch.env``) or the server's own
    interpreter. Kernels that are not ``ipykernel`` (R, Julia, ...) are
    launched exactly as the local provisioner would.

Why a provisioner *and* a small switcher (:mod:`._switch`) instead of a
kernel-manager subclass: how a kernel is launched (interpreter, overlay
bootstrap, environment variables, the server's URL and token) is a
provisioner's job, and keeping it there means a switched kernel restarts in
its new env (jupyter_client reuses the provisioner on restart), and that the
same launch logic can later compose with remote provisioners (Enterprise
Gateway) for users who outgrow one machine (DESIGN decision 8). The switch
itself must also move the server's websockets, which no provisioner can
reach; it swaps a candidate's provisioner and connection into the *same*
kernel-manager object, so the kernel id, restart callbacks and sessions of
jupyter_server stay untouched and no manager subclass is needed.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import subprocess
import sys
import threading
from typing import Any

from jupyter_client.provisioning import LocalProvisioner

from .._safe_read import NOTEBOOK_LIMIT, read_regular
from ..envs import MODE_INCOMPATIBLE
from ._launch import LaunchTarget, home_record, launch_argv, launch_env, launcher_index

#: The exec_lines entry that shows ``KERNELSWITCH_NOTICE`` with the first cell
#: (kernelswitch is importable in every kernel it launches, see launch_argv).
_ARM_NOTICE = ("--IPKernelApp.exec_lines=__import__('kernelswitch.kernelside.notice', "
               "fromlist=['arm']).arm()")
NOTICE_ENV = "KERNELSWITCH_NOTICE"

#: Lines of a kernel's stderr kept to explain why it died at start.
_TAIL = 40


class KernelSwitchProvisioner(LocalProvisioner):
    """A local provisioner whose kernels run in a chosen Python environment."""

    ks_target: LaunchTarget | None = None
    #: the Python version of the kernel's first start (``version_policy = "strict"``)
    ks_first_version: str | None = None
    #: the kernel id users see (a candidate is started under its own id)
    ks_kernel_id: str | None = None
    #: load the kernelswitch magics at start (kernels a switch started)
    ks_magics: bool = False
    #: the notebook's saved env could not be restored: ``{code, path, message}``
    #: (GET kernels/{id}/env answers it as ``restore_error``, for a visible notice)
    ks_restore_error: dict[str, str] | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=_TAIL)

    @property
    def switchable(self) -> bool:
        """True when this provisioner launched an ipykernel (in ``ks_target``)."""
        return self.ks_target is not None

    def stderr_tail(self) -> str:
        return "".join(self._stderr_tail)

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        # Ports, the connection file and the target env's PATH checks are
        # socket and file work in one stretch (~1 ms at once on a loaded
        # machine, measured with a stack sampler during failed switches): done
        # in a thread with a loop of its own, the server's event loop keeps
        # serving every open notebook meanwhile. None of it awaits this loop.
        return await asyncio.to_thread(asyncio.run, self._pre_launch(**kwargs))

    async def _pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        kwargs = await super().pre_launch(**kwargs)
        cmd = kwargs["cmd"]
        if launcher_index(cmd) is None:
            return kwargs  # not ipykernel: launched as the local provisioner would
        first = self.ks_target is None
        if self.ks_target is None:
            self.ks_target = self._first_target(kwargs.get("env") or {}, cmd[0])
            if self.ks_target is None:
                return kwargs
        if self.ks_first_version is None:
            self.ks_first_version = self.ks_target.version
        kwargs["cmd"] = launch_argv(self.ks_target, cmd, magics=self.ks_magics)
        kwargs["env"] = launch_env(
            self.ks_target, kwargs.get("env") or {}, self.ks_kernel_id or self.kernel_id
        )
        if first and self.ks_restore_error:  # said in the notebook with the first cell
            kwargs["env"][NOTICE_ENV] = self.ks_restore_error["message"]
            kwargs["cmd"].append(_ARM_NOTICE)
        self.log.debug(
            "kernelswitch: kernel %s in %s (%s)",
            self.kernel_id, self.ks_target.prefix, self.ks_target.mode,
        )  # fmt: skip
        return kwargs

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        if self.ks_target is None:
            return await super().launch_kernel(cmd, **kwargs)
        # stderr through a pipe: forwarded to the server's stderr as before,
        # and its tail kept to say why a kernel died at start.
        self._stderr_tail.clear()
        kwargs["stderr"] = subprocess.PIPE
        # What LocalProvisioner.launch_kernel does, with the fork+exec in a
        # thread: forking the big server process blocks its event loop for
        # tens of ms on a loaded machine, which every open notebook would feel
        # (benchmarks/switch.py measures it as failed-switch downtime).
        from jupyter_client.launcher import launch_kernel

        self.process = await asyncio.to_thread(launch_kernel, cmd, **self._scrub_kwargs(kwargs))
        try:
            self.pgid = os.getpgid(self.process.pid)
        except OSError:
            self.pgid = None
        self.pid = self.process.pid
        await asyncio.sleep(0)  # short loop steps: see Switcher._start_candidate
        self.cwd = kwargs.get("cwd", os.getcwd())
        info = self.connection_info
        pipe = self.process.stderr if self.process is not None else None
        if pipe is not None:
            threading.Thread(
                target=self._pump, args=(pipe,), name="ks-kernel-stderr", daemon=True
            ).start()
        return info

    def _pump(self, pipe: Any) -> None:
        with pipe:
            for raw in iter(pipe.readline, b""):
                line = raw.decode("utf-8", "replace")
                self._stderr_tail.append(line)
                try:
                    sys.stderr.write(line)
                except (OSError, ValueError):  # the server's stderr went away
                    pass

    def _first_target(self, env: dict[str, str], exe: str) -> LaunchTarget | None:
        """The notebook's recorded env if it still works, else the kernelspec's
        interpreter (``exe``; the server's own for the stock python3 kernelspec)."""
        rec, error = _notebook_env(env.get("JPY_SESSION_NAME", ""))
        if rec is not None and rec.mode != MODE_INCOMPATIBLE and rec.executable:
            self.log.info("kernelswitch: restoring %s from the notebook's metadata", rec.prefix)
            return LaunchTarget.from_record(rec)
        if rec is not None:
            error = {"code": "env_incompatible", "path": rec.prefix,
                     "message": f"the notebook's saved environment {rec.prefix} cannot run a "
                                f"kernel ({rec.reason})"}
        home = home_record(exe)
        usable = home is not None and home.mode != MODE_INCOMPATIBLE and home.executable
        if error is not None:
            where = f"{home.name} ({home.prefix})" if usable and home else "the default one"
            error["message"] += (f"; this kernel runs in {where} instead: pick an environment "
                                 "to switch to")
            self.ks_restore_error = error
            self.log.warning("kernelswitch: %s", error["message"])
        if not usable or home is None:
            return None
        return LaunchTarget.from_record(home)


def _notebook_env(path: str) -> tuple[Any, dict[str, str] | None]:
    """The env record named by a notebook's ``metadata.kernelswitch.env`` (or
    None), and why it could not be resolved (``{code, path, message}``)."""
    if not path.endswith(".ipynb") or not os.path.isfile(path):
        return None, None
    try:
        # guarded: a FIFO or device named x.ipynb must not hang the kernel's start
        meta = json.loads(read_regular(path, NOTEBOOK_LIMIT, what="notebook")).get("metadata", {})
        env = meta.get("kernelswitch", {}).get("env", {})
        # the interpreter first: a prefix like /usr does not name one Python
        prefix = env.get("executable") or env.get("prefix")
    except (OSError, ValueError, AttributeError):
        return None, None
    if not isinstance(prefix, str) or not prefix:
        return None, None
    from ..envs import resolve
    from ..errors import KernelSwitchError

    try:
        return resolve(prefix), None
    except KernelSwitchError as e:
        why = "it no longer exists" if e.code == "env_not_found" else e.message
        return None, {"code": e.code, "path": prefix, "message": (
            f"the notebook's saved environment {prefix} could not be restored: {why}")}
