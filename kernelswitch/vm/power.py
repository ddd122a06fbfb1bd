"""``VMManager``'s power verbs: start, shutdown (button + wait), destroy, reboot,
suspend, resume.

Public API (stable), as methods of :class:`~.manager.VMManager`: ``start``,
``press_power_button``, ``shutdown(name, timeout=60, wait=True)`` (blocking, the
CLI's), ``await ashutdown(name, timeout, wait, pressed=False)`` (the server's:
it waits on libvirt events, holding no thread), ``destroy``, ``reboot``,
``suspend``, ``resume``; each answers the VM's ``info``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from ._domains import ACTIVE_STATES
from .connection import libvirt_module as _libvirt
from .errors import ShutdownTimeout, VMStateError
from .media import check_before_start

#: Default seconds a guest gets to power off after the ACPI power button.
SHUTDOWN_TIMEOUT = 60.0
POLL_INTERVAL = 0.2


class PowerMixin:
    """Power verbs of :class:`~.manager.VMManager` (which supplies the rest)."""

    uri: str
    info: Callable[[str], dict[str, Any]]
    state: Callable[[str], str]
    aio: Callable[..., Awaitable[Any]]
    _on_domain: Callable[..., Any]
    _state: Callable[[Any], str]

    def start(self, name: str) -> dict[str, Any]:
        def start(dom: Any) -> None:
            state = self._state(dom)
            if state in ACTIVE_STATES:
                raise VMStateError(
                    f"VM {name!r} is already {state}.", details={"name": name, "state": state}
                )
            check_before_start(dom, name, self.uri)
            dom.create()

        self._on_domain(name, start)
        return self.info(name)

    def _require_active(self, dom: Any, name: str, verb: str) -> str:
        state = self._state(dom)
        if state not in ACTIVE_STATES:
            raise VMStateError(
                f"Cannot {verb} VM {name!r}: it is not running ({state}). "
                f"Start it with `kernelswitch vm start {name}`.",
                details={"name": name, "state": state},
            )
        return state

    def press_power_button(self, name: str) -> None:
        """Press the guest's ACPI power button (returns at once)."""
        libvirt = _libvirt()

        def press(dom: Any) -> None:
            self._require_active(dom, name, "shut down")
            dom.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)

        self._on_domain(name, press)

    def shutdown(
        self, name: str, timeout: float = SHUTDOWN_TIMEOUT, wait: bool = True
    ) -> dict[str, Any]:
        """Press the ACPI power button; with *wait*, until it is off or *timeout* passes.

        Blocking (the CLI's way); the server awaits :meth:`ashutdown` instead.
        """
        from .waits import check_timeout

        timeout = check_timeout(timeout)
        self.press_power_button(name)
        if wait and not self._wait_state(name, ("shutoff",), timeout):
            raise self._still_running(name, timeout)
        return self.info(name)

    async def ashutdown(
        self,
        name: str,
        timeout: float = SHUTDOWN_TIMEOUT,
        wait: bool = True,
        *,
        pressed: bool = False,
    ) -> dict[str, Any]:
        """:meth:`shutdown` for the event loop: the wait holds no thread.

        *pressed* says the caller already pressed the button (under its lock).
        """
        from .waits import check_timeout, wait_state

        timeout = check_timeout(timeout)
        if not pressed:
            await self.aio(self.press_power_button, name)
        if wait and not await wait_state(self, name, ("shutoff",), timeout):
            raise self._still_running(name, timeout)
        return await self.aio(self.info, name)

    @staticmethod
    def _still_running(name: str, timeout: float) -> ShutdownTimeout:
        return ShutdownTimeout(
            f"VM {name!r} is still running {timeout:g} s after the ACPI power "
            "button was pressed: the guest ignored it (no ACPI support, or it is "
            f"busy). Force it off with `kernelswitch vm destroy {name}`.",
            details={"name": name, "timeout": timeout},
        )

    def _wait_state(self, name: str, states: tuple[str, ...], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            state = self.state(name)
            if state in states:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_INTERVAL)

    def destroy(self, name: str) -> dict[str, Any]:
        """Pull the plug (the guest gets no chance to shut down)."""

        def destroy(dom: Any) -> None:
            self._require_active(dom, name, "destroy")
            dom.destroy()

        self._on_domain(name, destroy)
        return self.info(name)

    def reboot(self, name: str) -> dict[str, Any]:
        """Ask the guest to reboot (ACPI); libvirt restarts it when it powers down."""

        def reboot(dom: Any) -> None:
            self._require_active(dom, name, "reboot")
            dom.reboot(0)

        self._on_domain(name, reboot)
        return self.info(name)

    def suspend(self, name: str) -> dict[str, Any]:
        """Pause the guest's CPUs (it keeps its memory)."""

        def suspend(dom: Any) -> None:
            state = self._require_active(dom, name, "suspend")
            if state == "paused":
                raise VMStateError(f"VM {name!r} is already paused.", details={"name": name})
            dom.suspend()

        self._on_domain(name, suspend)
        return self.info(name)

    def resume(self, name: str) -> dict[str, Any]:
        def resume(dom: Any) -> None:
            if self._state(dom) != "paused":
                raise VMStateError(
                    f"VM {name!r} is not paused ({self._state(dom)}); nothing to resume.",
                    details={"name": name},
                )
            dom.resume()

        self._on_domain(name, resume)
        return self.info(name)
