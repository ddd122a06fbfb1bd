"""Host ports forwarded to a guest's ports, kept in the domain and applied at every start.

Public API (stable), called with a :class:`~..manager.VMManager`:

- :func:`forwards` ``(vms, name) -> dict`` — ``{"name", "method", "forwards": [...],
  "guest_address"}``; each forward is ``{"proto", "host_addr", "host_port",
  "guest_port", "active"}``.
- :func:`add_forward` ``(vms, name, host_port, guest_port, proto="tcp",
  host_addr="127.0.0.1")`` and :func:`remove_forward` ``(vms, name, host_port,
  proto="tcp")``; both answer :func:`forwards` plus ``applies`` (``now`` or
  ``next start``) and ``note``.
- :func:`apply_forwards` ``(vms, name) -> list[str]`` — put the recorded forwards
  on a running guest (the server calls it on every ``started`` event); the
  list holds what failed, e.g. a port another process took meanwhile.
- :func:`port_holder` ``(proto, port, addr) -> str | None`` — who listens there.

Why the QEMU monitor: libvirt's own ``<portForward>`` needs the passt backend,
and Debian 12's libvirt 9.0 is built without it (its patch
``Disable-passt-support.patch`` refuses ``<backend type='passt'/>``). QEMU's
user networking (what session guests get) forwards ports with the monitor
command ``hostfwd_add``, reached through ``virDomainQemuMonitorCommand``. That
works here, but libvirt marks the domain *tainted* ("custom-monitor") in its
log: it cannot know what the command changed. The forwards themselves live in
the domain's metadata (``<ks:reach>``), so they survive restarts and libvirtd
restarts, and are put back at every start. Forwards bind 127.0.0.1 unless
asked: a guest service should not reach the network by accident.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ..connection import libvirt_module
from ..errors import InvalidVMSpec, VMError, VMStateError

__all__ = ["METHOD", "NS", "add_forward", "apply_forwards", "forwards", "port_holder",
           "remove_forward"]  # fmt: skip

#: Namespace of kernelswitch's own domain metadata (forwards).
NS = "https://github.com/kernelswitch/xmlns/reach/1"
PREFIX = "ksreach"
METHOD = "hostfwd"
PROTOS = ("tcp", "udp")
NOTE = (
    "Forwarded by QEMU's monitor (hostfwd_add): libvirt marks the VM as tainted "
    "(custom-monitor) in its log, because this libvirt has no passt for <portForward>."
)


def _flags(dom: Any, live: bool = True) -> int:
    libvirt = libvirt_module()
    flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG if dom.isPersistent() else 0
    if live and dom.isActive():
        flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
    return flags


def _read(dom: Any, live: bool = True) -> list[dict[str, Any]]:
    libvirt = libvirt_module()
    flags = libvirt.VIR_DOMAIN_AFFECT_LIVE if live and dom.isActive() else (
        libvirt.VIR_DOMAIN_AFFECT_CONFIG)  # fmt: skip
    try:
        text = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, NS, flags)
    except libvirt.libvirtError as e:
        if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_METADATA:
            return []
        raise
    out = []
    for f in ET.fromstring(text).findall("forward"):
        out.append({
            "proto": f.get("proto", "tcp"),
            "host_addr": f.get("host_addr", "127.0.0.1"),
            "host_port": int(f.get("host_port", "0")),
            "guest_port": int(f.get("guest_port", "0")),
        })  # fmt: skip
    return out


def _write(dom: Any, items: list[dict[str, Any]]) -> None:
    libvirt = libvirt_module()
    root = ET.Element("reach")
    for f in items:
        ET.SubElement(root, "forward", {k: str(f[k]) for k in
                      ("proto", "host_addr", "host_port", "guest_port")})  # fmt: skip
    dom.setMetadata(
        libvirt.VIR_DOMAIN_METADATA_ELEMENT, ET.tostring(root, encoding="unicode"), PREFIX, NS,
        _flags(dom),
    )  # fmt: skip


def _netdev(dom: Any, name: str) -> str:
    """The id of the running guest's user-networking netdev (``hostnet0``)."""
    root = ET.fromstring(dom.XMLDesc(0))
    for iface in root.findall("./devices/interface"):
        alias = iface.find("alias")
        if iface.get("type") == "user" and alias is not None and alias.get("name"):
            return "host" + str(alias.get("name"))
    raise VMStateError(
        f"VM {name!r} has no QEMU user-networking interface, which port forwards need "
        "(VMs made on a qemu:///session URI have one).",
        details={"name": name},
    )


def _check_user_net(dom: Any, name: str) -> None:
    root = ET.fromstring(dom.XMLDesc(0))
    if not any(i.get("type") == "user" for i in root.findall("./devices/interface")):
        raise VMStateError(
            f"VM {name!r} has no QEMU user-networking interface, which port forwards need "
            "(VMs made on a qemu:///session URI have one); a VM on a libvirt network is "
            "reached at its own address instead.",
            details={"name": name},
        )


def _monitor(dom: Any, command: str) -> str:
    import libvirt_qemu

    return str(libvirt_qemu.qemuMonitorCommand(
        dom, command, libvirt_qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP)).strip()  # fmt: skip


def _rule(f: dict[str, Any]) -> str:
    return f"{f['proto']}:{f['host_addr']}:{f['host_port']}-:{f['guest_port']}"


def _active_rules(dom: Any) -> set[tuple[str, int]]:
    """(proto, host port) of the forwards QEMU has now (``info usernet``)."""
    out = set()
    for line in _monitor(dom, "info usernet").splitlines():
        words = line.split()
        # "  TCP[HOST_FORWARD]  12  127.0.0.1 18080  10.0.2.15  8080  0  0"
        if len(words) >= 4 and "HOST_FORWARD" in words[0]:
            with contextlib.suppress(ValueError):
                out.add((words[0].split("[")[0].lower(), int(words[3])))
    return out


def _hostfwd_add(dom: Any, netdev: str, f: dict[str, Any]) -> str | None:
    """None when QEMU took the rule, else why not."""
    answer = _monitor(dom, f"hostfwd_add {netdev} {_rule(f)}")
    return answer or None


# ------------------------------------------------------------ who holds a port


def _proc_sockets(proto: str) -> list[tuple[str, int, int]]:
    """(address, port, inode) of listening TCP / bound UDP sockets, from /proc/net."""
    out = []
    for fam in ("", "6"):
        try:
            lines = Path(f"/proc/net/{proto}{fam}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            w = line.split()
            if len(w) < 10 or (proto == "tcp" and w[3] != "0A"):  # 0A: LISTEN
                continue
            hexaddr, hexport = w[1].split(":")
            raw = bytes.fromhex(hexaddr)
            # /proc writes each 32-bit word in host (little-endian) order
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            addr = str(ipaddress.ip_address(raw))
            if addr.startswith("::ffff:"):
                addr = addr[7:]
            out.append((addr, int(hexport, 16), int(w[9])))
    return out


def _owner(inode: int) -> str | None:
    needle = f"socket:[{inode}]"
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == needle:
                        comm = Path(f"/proc/{pid}/comm").read_text().strip()
                        return f"{comm} (pid {pid})"
    return None


def port_holder(proto: str, port: int, addr: str = "127.0.0.1") -> str | None:
    """Who holds *port* on *addr* (``"nginx (pid 812)"``), or None when it is free."""
    wild = ("0.0.0.0", "::")
    for a, p, inode in _proc_sockets(proto):
        if p == port and (a == addr or a in wild or addr in wild):
            return _owner(inode) or "another process (not visible to this server)"
    # a holder /proc does not show (another network namespace, a race): try to bind
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(family, kind) as s:
        try:
            s.bind((addr, port))
        except OSError as e:
            return f"something this server cannot see ({e.strerror})"
    return None


# ------------------------------------------------------------ verbs


def _check(host_port: Any, guest_port: Any, proto: str, host_addr: str) -> tuple[int, int]:
    if proto not in PROTOS:
        raise InvalidVMSpec(f"protocol must be tcp or udp, not {proto!r}.")
    ports = []
    for what, v in (("host port", host_port), ("guest port", guest_port)):
        try:
            n = int(v)
        except (TypeError, ValueError):
            n = 0
        if isinstance(v, bool) or not 1 <= n <= 65535:
            raise InvalidVMSpec(
                f"The {what} must be a number from 1 to 65535, not {v!r}; e.g. 8080:80.",
                details={"field": what.replace(" ", "_")},
            )
        ports.append(n)
    try:
        ipaddress.ip_address(host_addr)
    except ValueError:
        raise InvalidVMSpec(
            f"The host address must be an IP address such as 127.0.0.1, not {host_addr!r}.",
            details={"field": "host_addr"},
        ) from None
    return ports[0], ports[1]


def _busy(proto: str, port: int, addr: str, name: str) -> VMStateError:
    holder = port_holder(proto, port, addr)
    return VMStateError(
        f"Host port {port}/{proto} on {addr} is in use by {holder or 'another process'}. "
        f"Choose another host port, e.g. `vm forward {name} {port + 1}:GUEST_PORT`.",
        details={"name": name, "host_port": port, "holder": holder},
    )


def _answer(vms: Any, name: str, dom: Any) -> dict[str, Any]:
    items = _read(dom)
    active: set[tuple[str, int]] = set()
    if dom.isActive():
        with contextlib.suppress(Exception):
            active = _active_rules(dom)
    for f in items:
        f["active"] = (f["proto"], f["host_port"]) in active
    return {"name": name, "method": METHOD, "forwards": items,
            "guest_address": guest_address(dom)}  # fmt: skip


def forwards(vms: Any, name: str) -> dict[str, Any]:
    return vms._on_domain(name, lambda dom: _answer(vms, name, dom))


def add_forward(
    vms: Any,
    name: str,
    host_port: Any,
    guest_port: Any,
    proto: str = "tcp",
    host_addr: str = "127.0.0.1",
) -> dict[str, Any]:
    hport, gport = _check(host_port, guest_port, proto, host_addr)
    new = {"proto": proto, "host_addr": host_addr, "host_port": hport, "guest_port": gport}

    def add(dom: Any) -> dict[str, Any]:
        _check_user_net(dom, name)
        items = _read(dom)
        for f in items:
            if f["proto"] == proto and f["host_port"] == hport:
                raise VMStateError(
                    f"VM {name!r} already forwards host port {hport}/{proto} (to guest port "
                    f"{f['guest_port']}). Remove it first with `vm forward {name} --remove "
                    f"{hport}`.",
                    details={"name": name, "host_port": hport},
                )
        if port_holder(proto, hport, host_addr) is not None:
            raise _busy(proto, hport, host_addr, name)
        running = bool(dom.isActive())
        if running:
            why = _hostfwd_add(dom, _netdev(dom, name), new)
            if why is not None:
                if port_holder(proto, hport, host_addr):
                    raise _busy(proto, hport, host_addr, name)
                raise VMError(
                    f"QEMU refused the forward {_rule(new)} of VM {name!r}: {why}",
                    details={"name": name},
                )
        try:
            _write(dom, [*items, new])
        except Exception:
            if running:
                with contextlib.suppress(Exception):
                    rule = f"{proto}:{host_addr}:{hport}"
                    _monitor(dom, f"hostfwd_remove {_netdev(dom, name)} {rule}")
            raise
        out = _answer(vms, name, dom)
        out["applies"] = "now" if running else "next start"
        out["note"] = NOTE
        return out

    return vms._on_domain(name, add)


def remove_forward(vms: Any, name: str, host_port: Any, proto: str = "tcp") -> dict[str, Any]:
    hport, _ = _check(host_port, 1, proto, "127.0.0.1")

    def remove(dom: Any) -> dict[str, Any]:
        items = _read(dom)
        gone = [f for f in items if f["proto"] == proto and f["host_port"] == hport]
        if not gone:
            have = ", ".join(f"{f['host_port']}/{f['proto']}" for f in items) or "none"
            raise InvalidVMSpec(
                f"VM {name!r} forwards no host port {hport}/{proto}; it forwards: {have}.",
                details={"name": name, "host_port": hport},
            )
        _write(dom, [f for f in items if f not in gone])
        if dom.isActive():
            with contextlib.suppress(Exception):
                _monitor(dom, f"hostfwd_remove {_netdev(dom, name)} "
                         f"{proto}:{gone[0]['host_addr']}:{hport}")  # fmt: skip
        out = _answer(vms, name, dom)
        out["applies"] = "now" if dom.isActive() else "next start"
        return out

    return vms._on_domain(name, remove)


def apply_forwards(vms: Any, name: str) -> list[str]:
    """Put the recorded forwards on the running guest; what failed, as messages."""

    def apply(dom: Any) -> list[str]:
        items = _read(dom)
        if not items or not dom.isActive():
            return []
        netdev = _netdev(dom, name)
        have = _active_rules(dom)
        failed = []
        for f in items:
            if (f["proto"], f["host_port"]) in have:
                continue
            why = _hostfwd_add(dom, netdev, f)
            if why is not None:
                holder = port_holder(f["proto"], f["host_port"], f["host_addr"])
                failed.append(f"{_rule(f)}: {'held by ' + holder if holder else why}")
        return failed

    return vms._on_domain(name, apply)


def guest_address(dom: Any) -> str | None:
    """The guest's IPv4 address where libvirt knows it (a libvirt network's DHCP lease,
    or the guest agent); QEMU user networking tells libvirt nothing."""
    libvirt = libvirt_module()
    if not dom.isActive():
        return None
    for source in (libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE,
                   libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT):  # fmt: skip
        try:
            ifaces = dom.interfaceAddresses(source, 0) or {}
        except libvirt.libvirtError:
            continue
        for iface in ifaces.values():
            for a in iface.get("addrs") or []:
                if a.get("type") == libvirt.VIR_IP_ADDR_TYPE_IPV4:
                    return str(a.get("addr"))
    return None
