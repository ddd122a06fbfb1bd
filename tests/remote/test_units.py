"""Hosts without a host: URI parsing, pinning, refs, the grammar's --host (no VM needed)."""

from __future__ import annotations

import pytest

from kernelswitch.kernelside.vm_grammar import RESTBackend, Result, build_parser, format_human
from kernelswitch.vm.errors import HostError
from kernelswitch.vm.hosts.refs import UnknownHost, find_host, ref, split_ref
from kernelswitch.vm.hosts.uri import HostURI, check_uri, open_uri

REMOTE = "qemu+ssh://u@h.example:2222/system?keyfile=/k&known_hosts=/kh"


def test_uri_facts_and_the_pinning_wrapper(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KERNELSWITCH_CACHE", str(tmp_path))
    h = HostURI.parse(REMOTE)
    assert (h.remote, h.ssh, h.alias, h.keyfile, h.known_hosts) == (
        True, True, "u@h.example:2222", "/k", "/kh",
    )  # fmt: skip
    assert not HostURI.parse("qemu:///session").remote
    assert HostURI.parse("qemu:///session").alias == "local"
    opened = open_uri(REMOTE)
    assert "known_hosts=" not in opened and "no_tty=1" in opened and "keyfile=/k" in opened
    wrapper = opened.split("command=")[1].split("&")[0]
    text = open(wrapper).read()
    assert "UserKnownHostsFile=/kh" in text and "StrictHostKeyChecking=yes" in text
    assert open_uri("qemu:///session") == "qemu:///session"


def test_accept_any_host_key_is_refused() -> None:
    with pytest.raises(HostError, match="no_verify=1 accepts any host key"):
        check_uri(REMOTE + "&no_verify=1")


def test_refs_and_host_names() -> None:
    uris = ["qemu:///session", REMOTE]
    assert split_ref(ref("vm1", REMOTE)) == ("vm1", REMOTE)
    assert split_ref("vm1") == ("vm1", None)
    assert find_host(uris, "u@h.example:2222") == REMOTE
    assert find_host(uris, "h.example") == REMOTE
    assert find_host(uris, "local") == "qemu:///session"
    with pytest.raises(UnknownHost, match="is not a configured host"):
        find_host(uris, "elsewhere")


def test_grammar_names_the_host(monkeypatch) -> None:
    from kernelswitch.kernelside import client

    args = build_parser().parse_args(["start", "vm1", "--host", "u@h"])
    assert args.host == "u@h"
    sent: list[str] = []
    monkeypatch.setattr(client, "request", lambda m, path, body, server=None: sent.append(path))
    RESTBackend().on_host("u@h:22").action("vm1", "start", {})
    RESTBackend().on_host("u@h").delete("vm1", disks=True, force=False)
    assert sent == ["vms/vm1/start?uri=u%40h%3A22", "vms/vm1?disks=1&force=0&uri=u%40h"]
    listing = [
        {"name": "a", "state": "running", "host": "local"},
        {"name": "a", "state": "shut off", "host": "u@h"},
    ]
    text = format_human(Result("list", listing))
    assert "HOST" in text.splitlines()[0] and "u@h" in text
