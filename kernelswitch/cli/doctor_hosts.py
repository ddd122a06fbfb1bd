"""``kernelswitch doctor`` for every configured libvirt URI, remote ones included.

Public API: :func:`configured_uris` (``--uri`` options, else the Jupyter
config's ``KernelSwitchApp.libvirt_uris``, else ``$KERNELSWITCH_LIBVIRT_URI``,
else ``qemu:///session``), :func:`check_remote` ``(uri, required) -> Check``.

What a remote check says, in the order a user would fix it: a URI that would
accept any host key; a key file that is missing; a host key not pinned in the
known_hosts file (with the ``ssh-keyscan`` line to check and add); the open
itself (bounded: a dead host answers "not reachable" within the SSH connect
timeout plus a margin, never hangs the doctor); a host with no storage pool;
asyncssh missing (remote consoles need it).
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import subprocess
from typing import Any

#: Seconds the doctor waits for one host to open.
OPEN_WAIT = 15.0


def configured_uris(given: list[str] | None) -> list[str]:
    if given:
        return given
    try:
        from jupyter_core.paths import jupyter_config_path
        from traitlets.config.loader import JSONFileConfigLoader, PyFileConfigLoader

        uris: list[str] = []
        for folder in jupyter_config_path():
            for loader in (JSONFileConfigLoader("jupyter_server_config.json", folder),
                           PyFileConfigLoader("jupyter_server_config.py", folder)):  # fmt: skip
                try:
                    cfg = loader.load_config()
                except Exception:
                    continue
                found = cfg.get("KernelSwitchApp", {}).get("libvirt_uris")
                if found and not uris:
                    uris = list(found)  # the first folder on the path wins, as Jupyter's
        if uris:
            return uris
    except Exception:
        pass
    return [os.environ.get("KERNELSWITCH_LIBVIRT_URI", "qemu:///session")]


def _pinned(h: Any) -> bool:
    host = h.host if not h.port or h.port == 22 else f"[{h.host}]:{h.port}"
    try:
        out = subprocess.run(["ssh-keygen", "-F", host, "-f", h.known_hosts],
                             capture_output=True, text=True, timeout=10)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and bool(out.stdout.strip())


def check_remote(uri: str, required: bool) -> Any:
    from ..vm.errors import HostError
    from ..vm.hosts.uri import HostURI, check_uri
    from .doctor import Check

    h = HostURI.parse(uri)
    name = f"host {h.alias}"

    def fail(detail: str, fix: str) -> Any:
        return Check(name, False, detail, fix, required=required, data={"uri": uri})

    try:
        check_uri(uri)
    except HostError as e:
        return fail("the URI accepts any host key (no_verify)", e.message)
    if not h.ssh:
        return fail(f"transport {h.transport!r}: kernelswitch reaches remote consoles over SSH",
                    "use qemu+ssh://user@host/system (or /session)")  # fmt: skip
    if h.keyfile and not os.access(h.keyfile, os.R_OK):
        return fail(f"key file {h.keyfile} is missing or unreadable",
                    "fix keyfile= in the URI (ssh-keygen makes one; ssh-copy-id installs it)")
    if not os.path.isfile(h.known_hosts) or not _pinned(h):
        port = f"-p {h.port} " if h.port else ""
        return fail(
            f"the host key of {h.host} is not in {h.known_hosts} (never accepted blindly)",
            f"ssh-keyscan {port}{h.host} > /tmp/key; ssh-keygen -lf /tmp/key  # compare the "
            f"fingerprint with the host's own, then: cat /tmp/key >> {h.known_hosts}",
        )
    from ..vm.manager import VMManager

    def probe() -> dict[str, Any]:
        manager = VMManager(uri)
        conn = manager.connection.conn()
        lib, hv = conn.getLibVersion(), conn.getVersion()
        pool = manager.storage.pool_path()
        accel = manager.accel()
        return {"libvirt": lib, "qemu": hv, "pool": str(pool), "accel": accel.to_json()}

    pool = cf.ThreadPoolExecutor(1)
    try:
        found = pool.submit(probe).result(timeout=OPEN_WAIT)
    except cf.TimeoutError:
        return fail(f"no answer within {OPEN_WAIT:g} s", "check the host is up and reachable")
    except HostError as e:
        return fail(e.message.split(". Check")[0], "see above; then run kernelswitch doctor again")
    finally:
        pool.shutdown(wait=False)
    try:
        from ..vm.hosts.tunnel import _asyncssh

        _asyncssh()
    except HostError as e:
        return fail("asyncssh is missing (remote consoles need it)", e.message)

    def ver(n: int) -> str:
        return f"{n // 1000000}.{n // 1000 % 1000}.{n % 1000}"

    return Check(
        name, True,
        f"{uri}: libvirt {ver(found['libvirt'])}, QEMU {ver(found['qemu'])}, "
        f"disks and ISOs in {found['pool']}, consoles through SSH; new VMs there run "
        f"under {found['accel']['accel'].upper()}: {found['accel']['reason']}",
        required=required,
        data={"uri": uri, "libvirt": ver(found["libvirt"]), "qemu": ver(found["qemu"]),
              "pool": found["pool"], "accel": found["accel"]},
    )  # fmt: skip
