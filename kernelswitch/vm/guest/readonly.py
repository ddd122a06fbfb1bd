"""Read-only shares: QEMU's virtiofsd over a read-only view of the folder.

Why a wrapper: libvirt 9.0 (Debian 12) refuses ``<readonly/>`` on a virtiofs
share ("virtiofs does not yet support read-only mode"), and QEMU 7.2's
virtiofsd has no read-only option (its ``--help`` lists none). A read-only
*mount* does the job. A read-only share's ``<binary path=...>`` names
:data:`WRAPPER`, a small script libvirt runs instead of virtiofsd, with the
daemon's usual arguments (``--fd=N -o source=DIR,...``). It enters a private
mount namespace (``unshare --mount --propagation private``), bind-mounts DIR
on itself read-only there and execs QEMU's virtiofsd. virtiofsd's own sandbox
bind-mounts that again (the read-only flag goes with it), pivots into it and
keeps no CAP_SYS_ADMIN to remount it, so every write from the guest fails with
EROFS however the guest mounts the share. Nothing outside that namespace
changes: the host's mount table is untouched. The bind is not recursive, so
folders mounted below DIR are not seen through a read-only share (none of them
can stay writable).

Needs a local hypervisor and this server running as root: the daemon that
starts the wrapper must be root to make a mount namespace, and the wrapper
root runs must be installed by root in a folder only root can write.

Public API (stable): :data:`WRAPPER`, :func:`check_readonly` ``(uri, path)``
(raises :class:`~..errors.InvalidVMSpec` saying why not), :func:`install_wrapper`
``()``, :func:`is_readonly` ``(filesystem_element)``, :func:`needs_wrapper`
``(xml)``.
"""

from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ET

from ..errors import InvalidVMSpec

__all__ = ["WRAPPER", "check_readonly", "install_wrapper", "is_readonly", "needs_wrapper"]

#: QEMU 7.2's virtiofsd (Debian 12: the ``qemu-system-common`` package).
VIRTIOFSD = "/usr/lib/qemu/virtiofsd"
#: Where the wrapper is installed (root-owned; libvirt runs it as root).
WRAPPER = "/usr/local/libexec/kernelswitch/virtiofsd-ro"

_SCRIPT = """#!/bin/sh
# Installed by kernelswitch (vm/guest/readonly.py): QEMU's virtiofsd serving a
# read-only view of a shared folder. libvirt runs it as a read-only share's
# <binary path=...> with virtiofsd's arguments; in a private mount namespace
# the folder named by source= is bind-mounted on itself read-only, then
# virtiofsd runs there. Nothing outside that namespace changes.
set -eu
src=
for arg in "$@"; do
    case $arg in
        source=*) src=${arg#source=}; src=${src%%,*} ;;
    esac
done
if [ -z "$src" ]; then
    case "${1:-}" in
        --print-capabilities|--version|-V|--help|-h) exec @VIRTIOFSD@ "$@" ;;
    esac
    echo "virtiofsd-ro: no source= folder in the arguments" >&2
    exit 1
fi
exec @UNSHARE@ --mount --propagation private -- /bin/sh -c \\
    '@MOUNT@ --bind -o ro -- "$1" "$1" && shift && exec @VIRTIOFSD@ "$@"' \\
    virtiofsd-ro "$src" "$@"
"""


def _tools() -> dict[str, str | None]:
    return {
        "virtiofsd": VIRTIOFSD if os.access(VIRTIOFSD, os.X_OK) else None,
        "unshare": shutil.which("unshare", path="/usr/bin:/bin"),
        "mount": shutil.which("mount", path="/usr/bin:/bin"),
    }


def check_readonly(uri: str, path: str) -> None:
    """Refuse a read-only share this host cannot enforce, saying why and what to do."""
    from ..hosts.uri import is_remote

    instead = (
        "Share it writable (without --readonly) and mount it with `mount -t virtiofs -o ro` "
        "in the guest (the guest could remount it writable), or share a copy."
    )
    if is_remote(uri):
        raise InvalidVMSpec(
            f"A read-only share needs a helper installed on the VM's host; {uri} is another "
            f"machine, where kernelswitch installs nothing. {instead}",
            details={"field": "readonly", "uri": uri},
        )
    if os.geteuid() != 0:
        raise InvalidVMSpec(
            "A read-only share runs the folder's virtiofs daemon in its own mount namespace "
            "over a read-only view of the folder, which needs root: this server runs as uid "
            f"{os.geteuid()}. Run the server as root, or: {instead}",
            details={"field": "readonly"},
        )
    missing = [name for name, found in _tools().items() if not found]
    if missing:
        raise InvalidVMSpec(
            f"A read-only share needs {', '.join(missing)} on this host (apt-get install "
            f"qemu-system-common util-linux mount). {instead}",
            details={"field": "readonly", "missing": missing},
        )
    if "," in path:
        raise InvalidVMSpec(
            f"{path!r} has a comma, which the read-only helper cannot take from virtiofsd's "
            "options; share a folder whose path has none (a symlink to it is fine).",
            details={"field": "dir", "dir": path},
        )


def _script() -> str:
    tools = _tools()
    text = _SCRIPT
    for name, found in tools.items():
        text = text.replace(f"@{name.upper()}@", found or name)
    return text


def install_wrapper() -> str:
    """Install (or refresh) :data:`WRAPPER`; its path. Refuses a folder others may write."""
    text = _script()
    folder = os.path.dirname(WRAPPER)
    os.makedirs(folder, mode=0o755, exist_ok=True)
    st = os.stat(folder)
    if st.st_uid != 0 or st.st_mode & 0o022:
        raise InvalidVMSpec(
            f"{folder} must belong to root and be writable by root alone (it holds a script "
            f"libvirt runs as root); it is uid {st.st_uid}, mode {st.st_mode & 0o7777:04o}. "
            f"Fix it: chown root: {folder} && chmod 755 {folder}",
            details={"field": "readonly", "dir": folder},
        )
    try:
        with open(WRAPPER) as f:
            same = f.read() == text and os.stat(WRAPPER).st_mode & 0o7777 == 0o755
    except OSError:
        same = False
    if not same:
        tmp = f"{WRAPPER}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o755)
        os.replace(tmp, WRAPPER)
    return WRAPPER


def is_readonly(fs: ET.Element) -> bool:
    """Whether a ``<filesystem>`` is a read-only share (ours, or libvirt's own flag)."""
    binary = fs.find("binary")
    return fs.find("readonly") is not None or (
        binary is not None and binary.get("path") == WRAPPER
    )


def needs_wrapper(xml: str) -> bool:
    """Whether the domain XML has a read-only share (its start needs :data:`WRAPPER`)."""
    root = ET.fromstring(xml)
    return any(b.get("path") == WRAPPER for b in root.findall("./devices/filesystem/binary"))
