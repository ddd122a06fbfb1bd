"""%pyenv through a real IPython shell against a real kernelswitch server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from support.jupyter import RunningServer, jupyter_server
from support.shell import kernelswitch_shell


@pytest.fixture(scope="module")
def env_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("magic-envs")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "alpha")], check=True)
    return root


@pytest.fixture(scope="module")
def server(env_root: Path) -> Iterator[RunningServer]:
    with jupyter_server(env_root, extra_args=[f"--KernelSwitchApp.env_roots={env_root}"]) as srv:
        yield srv


@pytest.fixture
def ip(server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    return kernelswitch_shell(server, monkeypatch)


def test_pyenv_list_json(ip, env_root: Path) -> None:
    data = ip.run_line_magic("pyenv", "list --json")
    prefixes = [e["prefix"] for e in data["envs"]]
    assert str(env_root / "alpha") in prefixes
    assert data["partial"] is False


def test_pyenv_list_table(ip, capsys: pytest.CaptureFixture[str], env_root: Path) -> None:
    assert ip.run_line_magic("pyenv", "list") is None
    out = capsys.readouterr().out
    # the same table as `kernelswitch envs`
    assert out.splitlines()[0].split() == ["KIND", "NAME", "PYTHON", "IPYKERNEL", "MODE", "PREFIX"]
    assert any(line.split()[1:2] == ["alpha"] for line in out.splitlines()[1:])


def test_pyenv_current(ip) -> None:
    rec = ip.run_line_magic("pyenv", "current --json")
    assert rec["prefix"] == sys.prefix
    assert rec["version"] == "{}.{}.{}".format(*sys.version_info[:3])


def test_pyenv_compare_reads_like_the_cli(ip, capsys, env_root: Path) -> None:
    assert ip.run_line_magic("pyenv", f"compare {env_root / 'alpha'}") is None
    out = capsys.readouterr().out
    assert out.startswith("target:   alpha (venv, ")
    assert "\nmode:     " in out and "\npython:   " in out


def test_pyenv_compare_bad_target_is_one_clear_line(ip, tmp_path: Path) -> None:
    with pytest.raises(UsageError) as e:
        ip.run_line_magic("pyenv", f"compare {tmp_path / 'missing'}")
    err = str(e.value)
    assert err.startswith("%pyenv: ") and "missing" in err and "\n" not in err


def test_pyenv_usage_error(ip, capsys) -> None:
    with pytest.raises(UsageError, match="invalid arguments"):
        ip.run_line_magic("pyenv", "frobnicate")
    assert "invalid choice" in capsys.readouterr().err


def test_server_unreachable_is_explained(ip, capsys, monkeypatch) -> None:
    from support.jupyter import free_port

    monkeypatch.setenv("KERNELSWITCH_URL", f"http://127.0.0.1:{free_port()}/")
    with pytest.raises(UsageError, match=r"^%pyenv: cannot reach the Jupyter server"):
        ip.run_line_magic("pyenv", "list")


def test_vm_list_matches_libvirt(ip, capsys) -> None:
    import libvirt

    def libvirt_names() -> list[str]:
        conn = libvirt.open("qemu:///session")
        try:
            return sorted(d.name() for d in conn.listAllDomains(0))
        finally:
            conn.close()

    # Compared while libvirt's list holds still (other test sessions on this
    # machine may define or undefine VMs meanwhile).
    for _ in range(5):
        names = libvirt_names()
        listed = sorted(v["name"] for v in ip.run_line_magic("vm", "list --json"))
        if libvirt_names() == names:
            break
    assert listed == names
    assert ip.run_line_magic("vm", "list") is None
    out = capsys.readouterr().out
    if names:
        assert out.splitlines()[0].split() == ["NAME", "STATE", "OS", "MEMORY", "CPUS"]
    else:
        assert out.strip() == "No VMs. Create one with: %vm create NAME --iso PATH"


#: What `vm info` measures on a running VM (changes by itself from one call to the next).
_RUNTIME_KEYS = ("uptime", "cpu_time", "memory_used", "memory_guest_used", "serial_tail")


def _vm_definitions(ip) -> list[dict]:
    """`%vm list --json` without the live measurements."""
    vms = ip.run_line_magic("vm", "list --json")
    return [{k: v for k, v in vm.items() if k not in _RUNTIME_KEYS} for vm in vms]


def test_vm_bad_name_is_refused_before_anything_exists(ip, capsys, tmp_path: Path) -> None:
    before = _vm_definitions(ip)
    with pytest.raises(UsageError) as e:
        ip.run_line_magic("vm", f"create 'bad<name' --iso {tmp_path / 'x.iso'}")
    err = str(e.value)
    assert err.startswith("%vm: ") and "name" in err.lower()
    assert _vm_definitions(ip) == before


def test_vm_unknown_vm_is_one_clear_line(ip) -> None:
    with pytest.raises(UsageError) as e:
        ip.run_line_magic("vm", "info no-such-vm-here")
    err = str(e.value)
    assert err.startswith("%vm: ") and "no-such-vm-here" in err and "\n" not in err
    # the hint names what the user typed in the notebook, not the CLI
    assert "`%vm list`" in err and "kernelswitch vm" not in err


def test_vm_create_shows_progress_and_error(ip, capsys, tmp_path: Path) -> None:
    missing = tmp_path / "missing.iso"
    with pytest.raises(UsageError) as e:
        ip.run_line_magic("vm", f"create okname --iso {missing}")
    captured = capsys.readouterr()
    assert "Creating VM 'okname'" in captured.out
    assert str(missing) in str(e.value)


def test_vm_oses_search(ip, capsys) -> None:
    oses = ip.run_line_magic("vm", "oses fedora 37 --json")
    assert "fedora37" in [o["short_id"] for o in oses]
    assert ip.run_line_magic("vm", "oses win 11") is None
    assert "win11" in capsys.readouterr().out


def test_vm_failing_magic_fails_its_cell(ip, capsys) -> None:
    """`r = %vm info nosuch --json` raises (the cell fails, Run All stops), never binds None."""
    ip.user_ns.pop("r", None)
    result = ip.run_cell("r = %vm info nosuch-vm-here --json")
    assert isinstance(result.error_in_exec, UsageError)
    assert "nosuch-vm-here" in str(result.error_in_exec)
    assert "r" not in ip.user_ns
    # what a notebook shows: one line, no traceback (IPython's UsageError display)
    shown = capsys.readouterr()
    text = shown.out + shown.err
    assert "UsageError: %vm: " in text and "Traceback" not in text


def test_vm_mistyped_verb_gets_did_you_mean(ip) -> None:
    with pytest.raises(UsageError) as e:
        ip.run_line_magic("vm", "strat somevm")
    msg = str(e.value)
    assert "unknown action 'strat'" in msg and "Did you mean `%vm start`?" in msg
    assert "\n" not in msg


def test_vm_unexpected_argument_names_the_verb_and_its_usage(ip) -> None:
    with pytest.raises(UsageError) as e:
        ip.run_line_magic("vm", "create trial d --iso /tmp/x.iso")
    msg = str(e.value)
    assert msg.startswith("%vm create: unexpected argument 'd'.")
    assert "Usage: %vm create" in msg and "--iso PATH" in msg


def test_vm_help_is_not_an_error(ip, capsys) -> None:
    assert ip.run_line_magic("vm", "start --help") is None
    assert "usage: %vm start" in capsys.readouterr().out


def test_vm_manage_verbs_through_the_server(ip, capsys) -> None:
    media = ip.run_line_magic("vm", "catalog debian11 x86_64 --json")
    assert media and {m["os"] for m in media} == {"debian11"} and media[0]["url"].endswith(".iso")
    assert ip.run_line_magic("vm", "catalog debian11 x86_64") is None
    assert capsys.readouterr().out.split()[:5] == ["OS", "MEDIA", "ARCH", "VERSION", "URL"]
    disks = ip.run_line_magic("vm", "disks --json")
    assert set(disks["totals"]) >= {"count", "allocation", "capacity", "orphans"}
    with pytest.raises(UsageError) as e:
        ip.run_line_magic("vm", "snapshot list no-such-vm-here")
    assert "`%vm list`" in str(e.value)
    with pytest.raises(UsageError) as e:
        ip.run_line_magic("vm", "download no-such-os")
    assert "`%vm catalog QUERY`" in str(e.value) and "kernelswitch vm" not in str(e.value)
    with pytest.raises(UsageError, match="nothing to change"):
        ip.run_line_magic("vm", "edit some-vm")


def test_vm_disks_deletes_a_named_orphan(ip, capsys) -> None:
    import uuid

    from kernelswitch.vm.storage import default_pool_dir

    orphan = default_pool_dir() / f"kstvm-magic-orphan-{uuid.uuid4().hex[:6]}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(orphan), "8M"], check=True)
    try:
        assert ip.run_line_magic("vm", "disks") is None
        out = capsys.readouterr().out
        [row] = [line for line in out.splitlines() if line.startswith(orphan.name)]
        assert row.split()[-1] == "(orphan)"
        assert "Delete an orphan with: %vm disks --delete DISK" in out
        assert ip.run_line_magic("vm", f"disks --delete {orphan.name}") is None
        out = capsys.readouterr().out
        assert out.startswith(f"Deleted {orphan}") and "Freed " in out
        assert not orphan.exists()
        with pytest.raises(UsageError, match="No disk"):
            ip.run_line_magic("vm", f"disks --delete {orphan.name}")
    finally:
        orphan.unlink(missing_ok=True)


def test_a_refused_credential_says_what_to_do(ip, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERNELSWITCH_TOKEN", "not-a-token-of-this-server")
    with pytest.raises(UsageError, match=r"refused this kernel's credentials.*KERNELSWITCH_TOKEN"):
        ip.run_line_magic("pyenv", "list")
