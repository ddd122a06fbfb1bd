"""``VMManager``'s guest verbs: shares, forwards, and create/start that know them.

Public API (stable), as methods of :class:`~..manager.VMManager`:
``shares(name)``, ``share(name, dir, tag=None, readonly=False)``,
``unshare(name, tag)``, ``forwards(name)``, ``forward(name, host_port,
guest_port, proto="tcp", host_addr="127.0.0.1")``, ``unforward(name,
host_port, proto="tcp")``, ``apply_forwards(name)``; ``create(..., shares=[...])``
(each ``"DIR[:TAG]"`` or ``{"dir", "tag", "readonly"}``, checked before anything
is made) and ``start(name)`` (then puts the recorded forwards on the guest).
``info`` gains ``shares``, ``forwards`` and ``guest_address``.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("kernelswitch.vm.guest")

#: Guest verbs that act on one named VM (the fleet routes them to its owner).
GUEST_BY_NAME = ("shares", "share", "unshare", "forwards", "forward", "unforward",
                 "apply_forwards")  # fmt: skip


def _share_items(items: Any) -> list[dict[str, Any]]:
    from .shares import parse_share_arg

    out = []
    for item in items or []:
        if isinstance(item, str):
            d, tag = parse_share_arg(item)
            out.append({"dir": d, "tag": tag, "readonly": False})
        else:
            out.append({"dir": item.get("dir"), "tag": item.get("tag"),
                        "readonly": bool(item.get("readonly"))})  # fmt: skip
    return out


class GuestMixin:
    """Guest verbs of :class:`~..manager.VMManager` (which supplies the rest)."""

    def shares(self, name: str) -> list[dict[str, Any]]:
        from .shares import shares

        return shares(self, name)

    def share(
        self, name: str, dir: str, tag: str | None = None, readonly: bool = False
    ) -> dict[str, Any]:
        from .shares import add_share

        return add_share(self, name, dir, tag, readonly)

    def unshare(self, name: str, tag: str) -> dict[str, Any]:
        from .shares import remove_share

        return remove_share(self, name, tag)

    def forwards(self, name: str) -> dict[str, Any]:
        from .forwards import forwards

        return forwards(self, name)

    def forward(
        self,
        name: str,
        host_port: Any,
        guest_port: Any,
        proto: str = "tcp",
        host_addr: str = "127.0.0.1",
    ) -> dict[str, Any]:
        from .forwards import add_forward

        return add_forward(self, name, host_port, guest_port, proto, host_addr)

    def unforward(self, name: str, host_port: Any, proto: str = "tcp") -> dict[str, Any]:
        from .forwards import remove_forward

        return remove_forward(self, name, host_port, proto)

    def apply_forwards(self, name: str) -> list[str]:
        from .forwards import apply_forwards

        return apply_forwards(self, name)

    # ------------------------------------------------------------ create/start

    def create(self, *args: Any, shares: Any = None, **kwargs: Any) -> dict[str, Any]:
        """Create (see :mod:`..create`); with *shares*, checked first and added
        before the first boot (so they apply at once)."""
        items = _share_items(shares)
        if not items:
            return super().create(*args, **kwargs)  # type: ignore[misc]
        from .shares import check_share

        seen: set[str] = set()
        for item in items:
            item["dir"], item["tag"] = check_share(self, item["dir"], item["tag"],
                                                   item["readonly"])  # fmt: skip
            if item["tag"] in seen:
                from ..errors import InvalidVMSpec

                raise InvalidVMSpec(f"Two shares have the tag {item['tag']!r}; give each its "
                                    "own (DIR:TAG).", details={"field": "shares"})  # fmt: skip
            seen.add(item["tag"])
        start = kwargs.pop("start", args[6] if len(args) > 6 else True)
        args = args[:6]
        info = super().create(*args, start=False, **kwargs)  # type: ignore[misc]
        name = info["name"]
        try:
            for item in items:
                self.share(name, item["dir"], item["tag"], item["readonly"])
        except BaseException:
            # the VM is ours and never ran: remove it, as a failed create does
            try:
                self.delete(name, disks=True, force=True)  # type: ignore[attr-defined]
            except Exception:
                log.exception("vm=%s: could not remove after its shares failed", name)
            raise
        if start:
            return self.start(name)
        return self.info(name)  # type: ignore[attr-defined]

    def start(self, name: str) -> dict[str, Any]:
        import os

        from .readonly import install_wrapper, needs_wrapper

        # a read-only share's daemon (deleted since, or a new install): only root
        # installs it; without root libvirt's start says what is missing
        if os.geteuid() == 0 and needs_wrapper(
            self._on_domain(name, lambda dom: dom.XMLDesc(0))  # type: ignore[attr-defined]
        ):
            install_wrapper()
        info = super().start(name)  # type: ignore[misc]
        try:
            failed = self.apply_forwards(name)
        except Exception as e:  # the guest runs; say why its forwards do not
            failed = [str(e)]
        if failed:
            log.warning("vm=%s: port forwards not applied: %s", name, "; ".join(failed))
            info = {**info, "forward_errors": failed}
        return info

    def _runtime_info(
        self,
        dom: Any,
        state: str,
        parsed: dict[str, Any],
        guest_stats: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        from .forwards import _read, guest_address
        from .shares import shares_of

        out: dict[str, Any] = dict(super()._runtime_info(dom, state, parsed, guest_stats))  # type: ignore[misc]
        try:
            out["shares"] = shares_of(dom.XMLDesc(0))
            out["forwards"] = _read(dom)
            out["guest_address"] = guest_address(dom)
        except Exception as e:  # undefined while we looked: the caller reports it
            log.debug("vm info extras: %s", e)
        return out
