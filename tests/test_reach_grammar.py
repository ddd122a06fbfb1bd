"""The reach verbs of the one ``vm`` grammar (magic and CLI): parsing and text."""

from __future__ import annotations

from typing import Any

import pytest

from kernelswitch.kernelside.vm_grammar import GrammarError, Result, build_parser, format_human, run
from kernelswitch.vm.guest.shares import parse_share_arg


class Recorder:
    """A backend that records what the grammar asked for."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def __getattr__(self, verb: str) -> Any:
        def call(*args: Any) -> Any:
            self.calls.append((verb, args))
            if verb == "info":
                return {"name": args[0], "state": "running", "serial_log": "/l"}
            return {"name": args[0]} if verb != "shares" else []
        return call


@pytest.mark.parametrize(
    ("line", "want"),
    [
        ("forward vm1 8080:80", ("forward", ("vm1", {"host_port": 8080, "guest_port": 80,
                                                     "proto": "tcp", "host_addr": "127.0.0.1"}))),
        ("forward vm1 5353:53 --udp --bind 0.0.0.0",
         ("forward", ("vm1", {"host_port": 5353, "guest_port": 53, "proto": "udp",
                              "host_addr": "0.0.0.0"}))),
        ("forward vm1", ("forwards", ("vm1",))),
        ("forward vm1 --remove 8080", ("unforward", ("vm1", 8080, "tcp"))),
        ("share vm1 /srv/data --tag data --readonly",
         ("share", ("vm1", {"dir": "/srv/data", "readonly": True, "tag": "data"}))),
        ("share vm1", ("shares", ("vm1",))),
        ("unshare vm1 data", ("unshare", ("vm1", "data"))),
        ("create vm1 --iso /x.iso --share /a:one --share /b",
         ("create", ({"name": "vm1", "iso": "/x.iso", "start": True,
                      "shares": ["/a:one", "/b"]},))),
    ],
)  # fmt: skip
def test_reach_verbs_parse_to_backend_calls(line: str, want: tuple) -> None:
    backend = Recorder()
    run(build_parser("%vm").parse_args(line.split()), backend)  # type: ignore[arg-type]
    assert backend.calls[-1] == want


def test_bad_ports_are_one_line_with_the_form() -> None:
    with pytest.raises(GrammarError, match="HOST_PORT:GUEST_PORT, like 8080:80"):
        run(build_parser("%vm").parse_args(["forward", "vm1", "8080"]), Recorder())  # type: ignore[arg-type]


def test_texts() -> None:
    share = {"tag": "data", "dir": "/srv/data", "readonly": True,
             "mount": "mkdir -p /mnt/data && mount -t virtiofs data /mnt/data"}  # fmt: skip
    text = format_human(Result("share", {"name": "vm1", "share": share, "applies": "next boot",
                                         "mount": share["mount"], "shares": [share]}), "%vm")
    assert "applies next boot" in text and "mount -t virtiofs data" in text
    assert "data <- /srv/data (read-only)" in text
    fwd = {"proto": "tcp", "host_addr": "127.0.0.1", "host_port": 8080, "guest_port": 80}
    text = format_human(Result("forward", {"name": "vm1", "forwards": [fwd], "applies": "now",
                                           "note": "tainted"}), "%vm")
    assert "127.0.0.1:8080 -> guest 80/tcp" in text and "tainted" in text
    assert "%vm forward vm1 8080:80" in format_human(
        Result("forward", {"name": "vm1", "forwards": []}), "%vm")


def test_share_argument() -> None:
    assert parse_share_arg("/srv/data:data") == ("/srv/data", "data")
    assert parse_share_arg("/srv/data") == ("/srv/data", None)
    assert parse_share_arg("/srv/a:b/c") == ("/srv/a:b/c", None)  # a colon inside a path
