"""The jupyter_server extension: owns env discovery, libvirt and consoles."""

from __future__ import annotations

import threading
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Int, List, TraitError, Unicode, default, validate

from .. import __version__


class KernelSwitchApp(ExtensionApp):
    """kernelswitch server extension (REST under ``{base_url}kernelswitch/api/``)."""

    name = "kernelswitch"
    extension_url = "/lab"
    load_other_extensions = True

    libvirt_uris = List(
        Unicode(),
        config=True,
        help="libvirt connection URIs to manage; the VM list merges them and new VMs "
        "go to the first one.",
    )

    @validate("libvirt_uris")
    def _check_uris(self, proposal: Any) -> list[str]:
        uris = list(proposal["value"])
        if not uris:
            raise TraitError("libvirt_uris needs at least one URI, e.g. ['qemu:///session']")
        bad = [u for u in uris if "://" not in u]
        if bad:
            raise TraitError(f"not libvirt URIs: {bad!r}; they look like qemu:///session")
        return uris

    @default("libvirt_uris")
    def _default_uris(self) -> list[str]:
        import os

        env = os.environ.get("KERNELSWITCH_LIBVIRT_URI")
        return [env] if env else ["qemu:///session"]

    env_roots = List(
        Unicode(),
        config=True,
        help="Directories scanned for Python environments (default: home and the root dir).",
    )

    @default("env_roots")
    def _default_env_roots(self) -> list[str]:
        from pathlib import Path

        roots = [str(Path.home())]
        root_dir = getattr(self.serverapp, "root_dir", None)
        if root_dir and root_dir not in roots:
            roots.append(root_dir)
        return roots

    env_depth = Int(5, config=True, help="How deep the environment scan descends.")

    _vm_manager: Any = None
    _vm_lock = threading.Lock()

    @property
    def vm_manager(self) -> Any:
        """The VMs of every configured URI (a :class:`VMFleet`), made on first use."""
        with self._vm_lock:
            if self._vm_manager is None:
                from ..vm.fleet import VMFleet

                self._vm_manager = VMFleet(self.libvirt_uris)
            return self._vm_manager

    def initialize_settings(self) -> None:
        self.settings["kernelswitch_app"] = self
        self.log.info("kernelswitch %s: libvirt %s", __version__, ", ".join(self.libvirt_uris))
        # The osinfo database takes ~0.4 s to load: do it now, off the event
        # loop, so the first create or identify does not pay for it.
        threading.Thread(target=self._preload_osinfo, name="ks-osinfo", daemon=True).start()

    def _preload_osinfo(self) -> None:
        try:
            from ..vm import osinfo

            osinfo.preload()
        except Exception as e:  # doctor explains; the server still serves envs
            self.log.warning("kernelswitch: osinfo database not loaded: %s", e)

    def initialize_handlers(self) -> None:
        from .routes import handlers

        self.handlers.extend(handlers())

    async def stop_extension(self) -> None:
        consoles = self.settings.get("kernelswitch_consoles")
        if consoles is not None:  # live VM consoles: disconnect, keep their previews
            await consoles.close_all()
        if self._vm_manager is not None:
            from ..vm.connection import close_all

            close_all()
