"""The jupyter_server extension: owns env discovery, libvirt and consoles."""

from __future__ import annotations

import threading
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Enum, Float, Int, List, TraitError, Unicode, default, validate

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

    extra_env_roots = List(
        Unicode(),
        config=True,
        help="More directories to scan for Python environments, on top of env_roots "
        "(which defaults to home and the root dir). A folder that does not exist is "
        "logged and skipped.",
    )

    @validate("env_roots", "extra_env_roots")
    def _check_roots(self, proposal: Any) -> list[str]:
        import json
        import os

        roots: list[str] = []
        for item in proposal["value"]:
            # --KernelSwitchApp.env_roots='["/a", "/b"]' arrives as one string
            parts = json.loads(item) if item.strip().startswith("[") else [item]
            roots += [os.path.abspath(os.path.expanduser(str(p))) for p in parts]
        return roots

    watch_env_roots = Bool(
        True,
        config=True,
        help="Watch the env roots (inotify, through watchfiles) so environments made or "
        "removed there show in GET envs, the sidebar and the picker within ~2 s.",
    )

    env_depth = Int(5, config=True, help="How deep the environment scan descends.")

    version_policy = Enum(
        ["native", "strict"],
        "native",
        config=True,
        help="Which environments a running kernel may switch to. 'native': any env with "
        "ipykernel (any Python version), or one without ipykernel that has the server's "
        "Python major.minor (overlay mode). 'strict': additionally only the major.minor "
        "the kernel first started with (KDE Cantor's rule), so objects in memory and "
        "compiled extensions keep matching.",
    )
    switch_timeout = Float(
        60.0,
        config=True,
        help="Seconds a switch waits for the new kernel to answer before it gives up "
        "(the old kernel keeps running).",
    )

    switchable_kernels = Bool(
        True,
        config=True,
        help="Launch every Python kernel the server starts (the stock python3 kernelspec "
        "too) through the kernelswitch provisioner, so any of them can be switched to another "
        "environment. Set KernelProvisionerFactory.default_provisioner_name yourself to "
        "choose another default; the 'Python (kernelswitch)' kernelspec is always switchable "
        "(it is listed in the launcher only while this is off).",
    )

    _switcher: Any = None

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
        self._init_switching()
        self.log.info("kernelswitch %s: libvirt %s", __version__, ", ".join(self.libvirt_uris))
        # The osinfo database takes ~0.4 s to load: do it now, off the event
        # loop, so the first create or identify does not pay for it.
        threading.Thread(target=self._preload_osinfo, name="ks-osinfo", daemon=True).start()

    def _init_switching(self) -> None:
        """Baseline environment, server URL/token for kernels, and the switcher."""
        from ..kernels import Switcher, configure
        from .kernel_auth import KernelCredential
        from .kernel_swap import claim, hold, rewire, settled
        from .kernel_ws import install

        srv = self.serverapp
        assert srv is not None, "initialize_settings runs inside a server"
        credential = self.settings["kernelswitch_kernel_credential"] = KernelCredential()
        configure(
            server_url=lambda: srv.connection_url,
            token=lambda: credential.secret,
            version_policy=self.version_policy,
            timeout=self.switch_timeout,
        )
        mkm = srv.kernel_manager
        self._default_provisioner(mkm)
        self._init_roots()
        self._switcher = Switcher(lambda kid, km: rewire(mkm, kid, km), hold, self.log, claim,
                                  settled)
        install(self.settings, self.log)  # cells queued behind %pyenv switch move with it

    env_watcher: Any = None

    def _init_roots(self) -> None:
        """extra_env_roots joins env_roots; missing roots are named; the watcher starts."""
        import os

        missing = [r for r in [*self.env_roots, *self.extra_env_roots] if not os.path.isdir(r)]
        for root in missing:
            self.log.warning("kernelswitch: env root %s does not exist; skipped", root)
        self.env_roots = [r for r in dict.fromkeys([*self.env_roots, *self.extra_env_roots])
                          if r not in missing]
        self.log.info("kernelswitch: scanning %s for environments", ", ".join(self.env_roots))
        from ..envs._listing import always_listed

        always_listed(wait=0)  # the server's and the system's records, read in the background
        if self.watch_env_roots:
            from ..envs import EnvWatcher

            self.env_watcher = EnvWatcher(list(self.env_roots), self.log, self.env_depth)
            self.env_watcher.start()

    def _default_provisioner(self, mkm: Any) -> None:
        """Make kernelswitch's provisioner the default unless the user chose one.

        (jupyter_server reads only ``jpserver_extensions`` from the config files a
        package installs, so this cannot be a file in jupyter_server_config.d.)
        """
        from jupyter_client.provisioning import KernelProvisionerFactory

        user = self.serverapp.config.get("KernelProvisionerFactory", {}) if self.serverapp else {}
        if not self.switchable_kernels or "default_provisioner_name" in user:
            return
        from ._kernelspecs import hide_own_kernelspec

        if self.serverapp is not None:
            hide_own_kernelspec(self.serverapp.kernel_spec_manager)
        factory = KernelProvisionerFactory.instance(parent=mkm)
        # the factory is process-wide: stop_extension puts the old default back,
        # so kernels started later in this process (tests, nbval) are not ours
        self._previous_provisioner = factory.default_provisioner_name
        factory.default_provisioner_name = "kernelswitch-provisioner"

    _previous_provisioner: str | None = None

    @property
    def switcher(self) -> Any:
        """The :class:`~kernelswitch.kernels.Switcher` of this server."""
        return self._switcher

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
        if self._previous_provisioner is not None:
            from jupyter_client.provisioning import KernelProvisionerFactory

            KernelProvisionerFactory.instance().default_provisioner_name = (
                self._previous_provisioner
            )
        events = self.settings.get("kernelswitch_events")
        if events is not None:  # the events websocket's libvirt listeners and thumbnails
            events.stop()
        consoles = self.settings.get("kernelswitch_consoles")
        if consoles is not None:  # live VM consoles: disconnect, keep their previews
            await consoles.close_all()
        if self.env_watcher is not None:
            self.env_watcher.stop()
        if self._vm_manager is not None:
            from ..vm.connection import close_all

            close_all()
