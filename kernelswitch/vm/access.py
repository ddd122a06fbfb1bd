"""Who the hypervisor runs as, and what it may open.

Public API (stable, re-exported by :mod:`.host`): :func:`hypervisor_user`
``(uri) -> HypervisorUser``, :func:`may_access` (mode bits, groups and POSIX
ACLs), :func:`unsearchable_dirs` (the folders above a file it cannot pass),
:func:`dev_kvm_problem` (``/dev/kvm`` it cannot open, with the fix).

Guests run as the hypervisor user (``libvirt-qemu`` under a privileged
daemon), so an ISO in a home folder it cannot search fails late and
obscurely; these checks let create say so first. kernelswitch never changes
permissions itself.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

# ------------------------------------------------------- hypervisor identity

QEMU_CONF = Path("/etc/libvirt/qemu.conf")
#: Debian's build default for the user QEMU runs as under a privileged daemon.
DEFAULT_QEMU_USER = "libvirt-qemu"


@dataclasses.dataclass(frozen=True)
class HypervisorUser:
    """Who QEMU runs as, hence who must be able to reach ISOs and disks."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    #: libvirt chowns disk/ISO files to this user while the guest runs
    #: (qemu.conf dynamic_ownership), so only the directories must be reachable.
    dynamic_ownership: bool


def _qemu_conf() -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        text = QEMU_CONF.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        out[key.strip()] = value.strip().strip('"')
    return out


def hypervisor_user(uri: str = "qemu:///session") -> HypervisorUser:
    """The account QEMU guests run as for *uri* on this host.

    A privileged daemon (``qemu:///system``, or any URI when we are root)
    drops QEMU to qemu.conf's ``user`` (``libvirt-qemu`` on Debian); an
    unprivileged session runs QEMU as ourselves.
    """
    import grp
    import pwd

    privileged = os.geteuid() == 0 or uri.rstrip("/").endswith("/system")
    if privileged:
        conf = _qemu_conf()
        name = conf.get("user", DEFAULT_QEMU_USER)
        dyn = conf.get("dynamic_ownership", "1") != "0"
        try:
            pw = pwd.getpwnam(name) if not name.startswith("+") else pwd.getpwuid(int(name[1:]))
        except (KeyError, ValueError):
            pw = pwd.getpwuid(os.geteuid())
            dyn = False
    else:
        pw = pwd.getpwuid(os.geteuid())
        dyn = False
    groups = {pw.pw_gid, *(g.gr_gid for g in grp.getgrall() if pw.pw_name in g.gr_mem)}
    return HypervisorUser(pw.pw_name, pw.pw_uid, pw.pw_gid, tuple(sorted(groups)), dyn)


# ------------------------------------------------------ what it may open

_ACL_XATTR = "system.posix_acl_access"
_ACL_USER_OBJ, _ACL_USER, _ACL_GROUP_OBJ, _ACL_GROUP, _ACL_MASK, _ACL_OTHER = (
    0x01, 0x02, 0x04, 0x08, 0x10, 0x20,
)  # fmt: skip


def _acl_entries(path: str) -> list[tuple[int, int, int]] | None:
    """POSIX ACL entries (tag, perm, id) of *path*, or None without an ACL."""
    try:
        raw = os.getxattr(path, _ACL_XATTR)
    except OSError:
        return None
    if len(raw) < 4 or int.from_bytes(raw[:4], "little") != 2:
        return None
    out = []
    for off in range(4, len(raw) - 7, 8):
        tag = int.from_bytes(raw[off : off + 2], "little")
        perm = int.from_bytes(raw[off + 2 : off + 4], "little")
        ident = int.from_bytes(raw[off + 4 : off + 8], "little")
        out.append((tag, perm, ident))
    return out


def may_access(
    path: str | os.PathLike[str],
    user: HypervisorUser,
    want: int,
    st: os.stat_result | None = None,
) -> bool:
    """Whether *user* has permission bits *want* (4 r, 2 w, 1 x) on *path*.

    Mode bits and POSIX ACLs (``setfacl -m u:libvirt-qemu:x DIR``, the fix we
    suggest, must count), as the kernel decides it.
    """
    if user.uid == 0:
        return True
    st = st or os.stat(path)
    mode = st.st_mode
    acl = _acl_entries(os.fspath(path))
    if acl is None:
        if user.uid == st.st_uid:
            return (mode >> 6) & want == want
        if st.st_gid in user.groups:
            return (mode >> 3) & want == want
        return mode & want == want
    mask = next((p for t, p, _ in acl if t == _ACL_MASK), 7)
    if user.uid == st.st_uid:
        return (mode >> 6) & want == want
    for t, p, i in acl:
        if t == _ACL_USER and i == user.uid:
            return p & mask & want == want
    group_match = False
    for t, p, i in acl:
        gid = st.st_gid if t == _ACL_GROUP_OBJ else i if t == _ACL_GROUP else None
        if gid is not None and gid in user.groups:
            group_match = True
            if p & mask & want == want:
                return True
    if group_match:
        return False
    return mode & want == want


def unsearchable_dirs(directory: Path, user: HypervisorUser) -> list[tuple[str, int]]:
    """*directory* and the folders above it that *user* cannot enter, with their modes.

    Folders that do not exist (yet) are skipped.
    """
    blocked = []
    for d in [*reversed(directory.parents), directory]:
        try:
            st = os.stat(d)
        except OSError:
            continue
        if not may_access(d, user, 1, st):
            blocked.append((str(d), stat.S_IMODE(st.st_mode)))
    return blocked


def dev_kvm_problem(user: HypervisorUser | None = None) -> str | None:
    """A host-setup problem with /dev/kvm that slows libvirt down, with its fix.

    When /dev/kvm exists but the hypervisor user cannot open it (no udev, so
    it stays root-only 0600), a privileged libvirtd probes QEMU with KVM yet
    finds KVM "not available now" on every lookup, so it re-probes QEMU
    capabilities (seconds each) on every define/start/domcaps call, and calls
    pile up. Debian's udev rule makes it root:kvm 0660; do the same.
    """
    if not os.path.exists("/dev/kvm"):
        return None
    user = user or hypervisor_user("qemu:///system")
    st = os.stat("/dev/kvm")
    if user.uid == 0 or user.uid == st.st_uid:
        return None
    mode = st.st_mode
    if (st.st_gid in user.groups and mode & 0o060 == 0o060) or mode & 0o006 == 0o006:
        return None
    return (
        f"/dev/kvm is not accessible to {user.name!r} (mode {stat.S_IMODE(mode):04o}), so "
        "libvirtd re-probes QEMU on every call and defines/starts stall. Fix (what "
        "Debian's udev rule does): chgrp kvm /dev/kvm && chmod 0660 /dev/kvm"
    )
