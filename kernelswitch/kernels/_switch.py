"""Make-before-break switching of a running kernel to another environment.

Public API (stable; the server's handlers use it):

``Switcher(rewire)``
    ``await switch(kernel_id, km, target, carry=False, timeout=None) -> dict``
    moves the kernel behind ``km`` (a jupyter_client kernel manager) to
    ``target`` (a path, a name the caller resolved, ``system``) and answers
    ``{ok, env, previous, mode, carried, not_carried, error, timings}``; a
    refused or failed switch raises :class:`SwitchFailed` carrying that same
    answer with ``ok: false`` and the env the kernel still runs in.
    ``current(km) -> dict`` is the env record (and mode) the kernel runs in.
    ``rewire(kernel_id, km)`` is called right after the swap so the server
    can move its websockets and activity watchers to the new process;
    ``hold(kernel_id, km) -> release`` keeps new websocket input meanwhile;
    ``claim(kernel_id, km, cell)`` takes over the requests queued behind the
    cell that asked (Run All, see :mod:`._cell_end`), or answers ``None``.

How (DESIGN decision 8, verified with jupyter_server 2.x): the candidate is a
separate kernel manager started through :class:`KernelSwitchProvisioner` with
its own ports and the *same* session key; once it answers ``kernel_info``
(and the user's variables are carried, if asked), its provisioner and
connection are moved into the existing manager object — same kernel id, same
restart callbacks, same sessions — and the old process is asked to shut down
in the background, after the answer (measured: stopping it first costs
~0.12 s per switch). Nothing touches the old kernel until the candidate is
ready, so a failed candidate leaves it running with its state. One switch at
a time per kernel; the auto-restarter is paused meanwhile so a kernel killed
during a switch is not restarted twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from ..envs import MODE_INCOMPATIBLE, EnvRecord
from ..envs._record import major_minor
from ..errors import KernelSwitchError
from . import _launch
from ._candidate import discard, retire, wait_ready
from ._carry import CarryReport, carry
from ._cell_end import commit_at_cell_end, commit_when_idle
from ._launch import LaunchTarget, home_record, launcher_index
from .errors import (
    CandidateExited,
    EnvIncompatible,
    NotSwitchable,
    SwitchBusy,
    VersionPolicyRefused,
)
from .provisioner import KernelSwitchProvisioner

log = logging.getLogger("kernelswitch.kernels")

#: Seconds a switch waits for replies already due from the old kernel.
DRAIN_MAX = 2.0


class SwitchFailed(KernelSwitchError):
    """A switch that did not happen; ``answer`` is the full REST answer."""

    def __init__(self, cause: KernelSwitchError, answer: dict[str, Any]) -> None:
        super().__init__(cause.message, details=cause.details)
        self.code = cause.code
        self.http_status = cause.http_status
        self.answer = answer


class Switcher:
    """Switches kernels of one server; see the module docstring."""

    def __init__(
        self,
        rewire: Callable[[str, Any], list[Any] | None] | None = None,
        hold: Callable[[str, Any], Callable[[], None]] | None = None,
        logger: Any = None,
        claim: Callable[[str, Any, str], Any] | None = None,
        settled: Callable[[Any], bool] | None = None,
    ) -> None:
        self.log = logger or log  # the server's logger, so switches show in its log
        self._rewire = rewire
        self._hold = hold
        self._claim = claim
        self._settled = settled
        self._busy: set[str] = set()
        self._retiring: set[asyncio.Task[None]] = set()
        #: the :class:`~._pool.CandidatePool` of pre-started candidates, if any
        self.candidates: Any = None

    # -- queries -----------------------------------------------------------

    def target_of(self, km: Any) -> LaunchTarget | None:
        prov = getattr(km, "provisioner", None)
        if isinstance(prov, KernelSwitchProvisioner) and prov.ks_target is not None:
            return prov.ks_target
        spec = getattr(km, "kernel_spec", None)
        if spec is None or launcher_index(list(spec.argv)) is None:
            return None
        # launched by another provisioner: the kernelspec's interpreter
        home = home_record(spec.argv[0])
        return LaunchTarget.from_record(home) if home is not None else None

    def current(self, km: Any) -> dict[str, Any]:
        target = self.target_of(km)
        if target is None:
            raise NotSwitchable(
                "this kernel is not a Python (ipykernel) kernel, so it has no Python "
                "environment to switch; start a Python kernel"
            )
        return self._describe(km, target)

    def _describe(self, km: Any, target: LaunchTarget) -> dict[str, Any]:
        rec = dict(target.record)
        rec["mode"] = target.mode
        prov = getattr(km, "provisioner", None)
        rec["pid"] = getattr(prov, "pid", None)
        rec["first_version"] = getattr(prov, "ks_first_version", None) or target.version
        rec["switching"] = getattr(km, "kernel_id", None) in self._busy
        restore_error = getattr(prov, "ks_restore_error", None)
        if restore_error:  # the saved env was not there at start
            rec["restore_error"] = restore_error
        return rec

    # -- the switch ----------------------------------------------------------

    async def switch(
        self,
        kernel_id: str,
        km: Any,
        target: EnvRecord,
        *,
        carry_vars: bool = False,
        timeout: float | None = None,
        when_idle: bool = False,
        carry_from: str | None = None,
        cell: str | None = None,
        drops_queued: bool = False,
    ) -> dict[str, Any]:
        """Switch now, or (``when_idle``) prepare now and swap once the kernel is
        idle: what ``%pyenv switch`` needs, since its own cell keeps the kernel
        busy until the answer arrives. Then the answer has ``pending: true``.

        ``cell`` (the msg_id of the cell asking) with ``drops_queued`` (its
        kernel drops the execute_requests the answer lists as ``queued``)
        swaps right when that cell ends and moves the cells queued behind it
        to the new kernel (:mod:`._cell_end`); the answer lists them."""
        if kernel_id in self._busy:
            busy = SwitchBusy(
                f"kernel {kernel_id} is already switching; wait for that switch to finish"
            )
            env = self.current(km)  # where it runs until that switch is done
            raise SwitchFailed(busy, {
                "ok": False, "env": env, "previous": env, "carried": [], "not_carried": {},
                "error": {"code": busy.code, "message": busy.message}, "timings": {},
            })  # fmt: skip
        self._busy.add(kernel_id)
        timeout = timeout or _launch.settings.timeout
        try:
            prepared = await self._prepare(kernel_id, km, target, carry_vars, timeout,
                                           carry_from)
        except BaseException:
            self._busy.discard(kernel_id)
            if km.autorestart:
                km.start_restarter()
            raise
        if not when_idle:
            release = (self._hold(kernel_id, km)
                       if self._hold is not None and self._settled is not None else None)
            try:
                if release is not None:
                    await self._drain(km)
                return await self._commit(kernel_id, km, *prepared)
            finally:
                self._busy.discard(kernel_id)
                if release is not None:
                    release()  # what the browsers sent meanwhile goes to the new kernel
        answer = prepared[0]
        answer["pending"] = True
        try:
            claim = (self._claim(kernel_id, km, cell)
                     if cell and drops_queued and self._claim is not None else None)
        except KernelSwitchError as e:  # the asker is gone: no switch
            await discard(prepared[1])
            self._busy.discard(kernel_id)
            if km.autorestart:
                km.start_restarter()
            answer.update(ok=False, env=answer["previous"], pending=False)
            raise self._failed(e, answer, prepared[4]) from e
        if claim is not None:
            answer["queued"] = list(claim.queued)
            self._spawn(commit_at_cell_end(self, kernel_id, km, timeout, prepared, claim))
            return dict(answer)
        release = self._hold(kernel_id, km) if self._hold is not None else None
        self._spawn(commit_when_idle(self, kernel_id, km, timeout, prepared, release))
        return dict(answer)

    async def _drain(self, km: Any) -> None:
        """Let the requests already sent to the old kernel get their replies
        (new input is held): swapped in between, a reply would be lost and
        its cell left waiting. A kernel busy for longer than
        :data:`DRAIN_MAX` is switched anyway (that cell's reply is lost)."""
        deadline = time.monotonic() + DRAIN_MAX
        while self._settled is not None and not self._settled(km):
            if time.monotonic() > deadline:
                self.log.warning("kernelswitch: kernel %s is busy; switching anyway",
                                 km.kernel_id)
                return
            await asyncio.sleep(0.002)
        # no await between the check above and the swap after it

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _prepare(
        self, kernel_id: str, km: Any, rec: EnvRecord, carry_vars: bool, timeout: float,
        carry_from: str | None,
    ) -> tuple[dict[str, Any], Any, KernelSwitchProvisioner, LaunchTarget, float]:
        """Checks, the candidate, its kernel_info and the carried variables."""
        t0 = time.monotonic()
        timings: dict[str, float] = {}
        previous = self.target_of(km)
        if previous is None:
            self.current(km)  # raises NotSwitchable
        assert previous is not None
        answer: dict[str, Any] = {
            "ok": False, "env": self._describe(km, previous),
            "previous": self._describe(km, previous),
            "carried": [], "not_carried": {}, "error": None, "timings": timings,
        }  # fmt: skip
        try:
            target = self._check(km, previous, rec)
        except KernelSwitchError as e:
            raise self._failed(e, answer, t0) from e
        km.stop_restarter()  # a kernel killed during the switch is handled here
        cand = None
        try:
            cand, prov, info = await self._candidate(kernel_id, km, target, timeout, timings)
            report = CarryReport()
            if carry_vars or carry_from:
                t = time.monotonic()
                report = await self._carry(km, cand, timeout, carry_from)
                timings["carry"] = round(time.monotonic() - t, 3)
        except KernelSwitchError as e:
            if cand is not None:
                await discard(cand)
            await self._revive_if_dead(km, answer)
            raise self._failed(e, answer, t0) from e
        except BaseException:
            if cand is not None:
                await discard(cand)
            raise
        answer.update(
            ok=True,
            prestarted=bool(timings.pop("prestarted", 0.0)),
            env=self._describe(km, target),
            carried=report.carried,
            not_carried=report.not_carried,
            carry=report.to_json(),
            language_info=info.get("language_info", {}),
            display=display_name(info.get("language_info", {}), target.record),
        )
        answer["env"]["pid"] = prov.pid
        timings["total"] = round(time.monotonic() - t0, 3)
        return answer, cand, prov, target, t0

    async def _commit(self, kernel_id: str, km: Any, answer: dict[str, Any], cand: Any,
                      prov: KernelSwitchProvisioner, target: LaunchTarget, t0: float
                      ) -> dict[str, Any]:
        """The swap itself, then the old kernel retires in the background.

        Answers once every websocket's new iopub delivers, so the first cell
        after the switch never loses its output.
        """
        try:
            old, connected = self._swap(kernel_id, km, cand, prov)
        finally:
            if km.autorestart:
                km.start_restarter()
        self._spawn(retire(*old))
        if connected:
            await asyncio.wait([asyncio.ensure_future(f) for f in connected], timeout=10)
        answer["timings"]["total"] = round(time.monotonic() - t0, 3)
        self.log.info("kernelswitch: kernel %s now runs in %s (%s) after %.2f s",
                 kernel_id, target.prefix, target.mode, answer["timings"]["total"])
        return answer

    def _failed(self, e: KernelSwitchError, answer: dict[str, Any], t0: float) -> SwitchFailed:
        answer["error"] = {"code": e.code, "message": e.message}
        answer["timings"]["total"] = round(time.monotonic() - t0, 3)
        self.log.info("kernelswitch: switch refused/failed (%s): %s", e.code, e.message)
        return SwitchFailed(e, answer)

    def _check(self, km: Any, previous: LaunchTarget, rec: EnvRecord) -> LaunchTarget:
        """Refuse what cannot work before anything starts (policy, mode)."""
        if _launch.settings.version_policy == "strict":
            prov = getattr(km, "provisioner", None)
            first = getattr(prov, "ks_first_version", None) or previous.version
            a, b = major_minor(first), major_minor(rec.version)
            if a is None or b is None or a != b:
                raise VersionPolicyRefused(
                    f"{rec.prefix} has Python {rec.version or '?'} but this kernel started with "
                    f"Python {first or '?'}, and version_policy is 'strict' (same major.minor "
                    "only); pick an env with the same Python, or start the server with "
                    "--KernelSwitchApp.version_policy=native",
                    details={"path": rec.prefix},
                )
        if rec.mode == MODE_INCOMPATIBLE or not rec.executable:
            raise EnvIncompatible(
                f"{rec.prefix} cannot run this kernel: {rec.reason}", details={"path": rec.prefix}
            )
        return LaunchTarget.from_record(rec)

    async def _candidate(
        self, kernel_id: str, km: Any, target: LaunchTarget, timeout: float,
        timings: dict[str, float],
    ) -> tuple[Any, KernelSwitchProvisioner, dict[str, Any]]:
        """The candidate pre-started for this target (:mod:`._pool`), else a new one."""
        if self.candidates is not None:
            got = await self.candidates.claim(kernel_id, target, timeout)
            if got is not None:
                timings["prestarted"] = 1.0
                return got
        return await self._start_candidate(kernel_id, km, target, timeout, timings)

    async def _start_candidate(
        self, kernel_id: str, km: Any, target: LaunchTarget, timeout: float,
        timings: dict[str, float],
    ) -> tuple[Any, KernelSwitchProvisioner, dict[str, Any]]:
        from jupyter_client.manager import AsyncKernelManager

        t = time.monotonic()
        cand_id = f"{kernel_id}-switch-{uuid.uuid4().hex[:8]}"
        cand = AsyncKernelManager(
            parent=km.parent, kernel_name=km.kernel_name, kernel_id=cand_id,
            ip=km.ip, transport=km.transport, autorestart=False,
            context=km.context,  # not a zmq context (I/O thread, fds) per switch
        )  # fmt: skip
        cand._kernel_spec = km.kernel_spec
        cand.session.key = km.session.key  # websockets keep signing with the same key
        cand.session.signature_scheme = km.session.signature_scheme
        # Each object above and below costs ms of pure Python (traitlets config,
        # session checks) on a loaded machine: let the loop forward the other
        # notebooks' messages in between (GIL: a thread would not help).
        await asyncio.sleep(0)
        old_prov = getattr(km, "provisioner", None)
        prov = KernelSwitchProvisioner(kernel_id=cand_id, kernel_spec=km.kernel_spec, parent=cand)
        await asyncio.sleep(0)
        prov.ks_target = target
        prov.ks_kernel_id = kernel_id
        prov.ks_magics = True
        prov.ks_first_version = getattr(old_prov, "ks_first_version", None) or target.version
        cand.provisioner = prov
        launch = {k: v for k, v in (km._launch_args or {}).items() if k != "kernel_id"}
        try:
            await cand.start_kernel(**launch)
        except Exception as e:
            await discard(cand)
            raise CandidateExited(
                f"could not start a kernel with {target.executable}: {e}",
                details={"path": target.prefix},
            ) from e
        timings["launch"] = round(time.monotonic() - t, 3)
        try:
            info = await wait_ready(cand, prov, target, timeout)
        except BaseException:
            await discard(cand)
            raise
        timings["ready"] = round(time.monotonic() - t, 3)
        return cand, prov, info

    async def _carry(self, km: Any, cand: Any, timeout: float, carry_from: str | None
                     ) -> CarryReport:
        old_client, new_client = km.client(context=km.context), cand.client(context=km.context)
        for c in (old_client, new_client):
            c.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
        try:
            return await carry(old_client, new_client, timeout, carry_from)
        finally:
            for c in (old_client, new_client):
                c.stop_channels()

    def _swap(self, kernel_id: str, km: Any, cand: Any, prov: KernelSwitchProvisioner
              ) -> tuple[tuple, list[Any]]:
        """Move the candidate into ``km`` (no awaits: nothing runs in between)."""
        old = (km.provisioner, km._control_socket, km.connection_file, km.session)
        km._control_socket = None
        prov.parent = km
        km.provisioner = prov
        info = cand.get_connection_info()
        # load_connection_info() keeps ports already set: copy them ourselves
        km.transport, km.ip = info["transport"], info["ip"]
        for name in ("shell_port", "iopub_port", "stdin_port", "hb_port", "control_port"):
            setattr(km, name, info[name])
        km.connection_file = cand.connection_file
        km._connection_file_written = True
        cand._connection_file_written = False  # the file now belongs to km
        cand.provisioner = None
        cand._close_control_socket()
        km._connect_control_socket()
        if hasattr(km, "_kernel_info_future"):
            del km._kernel_info_future  # the next kernel_info comes from the new process
        connected = (self._rewire(kernel_id, km) or []) if self._rewire is not None else []
        return old, connected

    async def _revive_if_dead(self, km: Any, answer: dict[str, Any]) -> None:
        """The old kernel died during a failed switch: restart it where it was."""
        try:
            alive = await km.is_alive()
        except Exception:
            alive = False
        if alive:
            return
        self.log.warning("kernelswitch: kernel %s died during the switch; restarting it",
                         km.kernel_id)
        await km.restart_kernel(now=True)
        answer["env"] = self._describe(km, self.target_of(km) or LaunchTarget(**_NONE))
        answer["restarted"] = True


def display_name(language_info: dict[str, Any], record: dict[str, Any]) -> str:
    """What a kernel indicator shows after a switch: ``Python 3.12 · proj-a/.venv``.

    The version is the new kernel's own (its ``kernel_info_reply``); the env
    is told by its folder and parent folder, as the env lists tell apart
    duplicate names."""
    version = str(language_info.get("version") or record.get("version") or "")
    mm = ".".join(version.split(".")[:2])
    prefix = str(record.get("prefix") or "").rstrip("/")
    parts = prefix.split("/")
    where = record.get("name") or parts[-1]
    if parts[-1].startswith(".") and len(parts) > 1:  # .venv, .env: the project names it
        where = "/".join(parts[-2:])
    if record.get("kind") == "system":
        where = "system"
    return f"Python {mm} · {where}" if mm else str(where)


_NONE: dict[str, Any] = {"prefix": "", "executable": "", "mode": "", "kind": "", "name": "",
                         "version": None}
