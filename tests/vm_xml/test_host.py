"""Host facts: the accelerator decision, limits, hypervisor user, libvirt domcaps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kernelswitch._paths import cache_dir
from kernelswitch.vm import accel as vm_accel
from kernelswitch.vm import host
from kernelswitch.vm.errors import HostError


def test_probe_image_reaches_long_mode_under_tcg() -> None:
    # The probe itself is sound: under TCG it always gets to 64-bit mode.
    ok, detail = vm_accel.run_probe("tcg", timeout=60)
    assert ok, detail


def test_detect_accel_never_picks_a_broken_kvm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(vm_accel.ACCEL_ENV, raising=False)
    report = host.detect_accel(refresh=True)
    assert report.accel in vm_accel.ACCELS and report.reason
    if report.accel == "kvm":
        assert vm_accel.probe_kvm()[0]
    if Path("/sys/module/kvm_pvm").is_dir() or not Path("/dev/kvm").exists():
        # Our machines: /dev/kvm exists but cannot boot ordinary guests.
        assert report.accel == "tcg" and report.domain_type == "qemu"
    assert report.to_json()["domain_type"] == report.domain_type


@pytest.mark.parametrize(("value", "accel"), [("kvm", "kvm"), ("tcg", "tcg"), ("QEMU", "tcg")])
def test_accel_override(monkeypatch: pytest.MonkeyPatch, value: str, accel: str) -> None:
    monkeypatch.setenv(vm_accel.ACCEL_ENV, value)
    report = host.detect_accel(refresh=True)
    assert (report.accel, report.method) == (accel, "override")
    monkeypatch.delenv(vm_accel.ACCEL_ENV)
    host.detect_accel(refresh=True)


def test_accel_override_bad(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(vm_accel.ACCEL_ENV, "hyperspeed")
    with pytest.raises(HostError, match="'kvm' or 'tcg'"):
        host.detect_accel(refresh=True)


def test_probe_verdict_is_cached() -> None:
    first = vm_accel._probed_verdict(refresh=True)
    assert first.method == "probe"
    data = json.loads((cache_dir() / "host-accel.json").read_text())
    assert data["accel"] == first.accel
    again = vm_accel._probed_verdict(refresh=False)
    assert (again.accel, again.method) == (first.accel, "cached")


def test_limits(tmp_path: Path) -> None:
    mem = host.memory_info()
    assert 0 < mem["available"] <= mem["total"]
    assert host.cpu_count() >= 1
    limits = host.host_limits(tmp_path / "not" / "yet")
    assert limits.disk is not None and limits.disk > 0
    assert set(limits.to_json()) == {"memory", "cpus", "disk", "disk_where"}


def test_hypervisor_user() -> None:
    system = host.hypervisor_user("qemu:///system")
    assert system.name == "libvirt-qemu" and system.uid != 0
    assert system.gid in system.groups


def test_domain_caps_from_libvirt() -> None:
    import libvirt

    conn = libvirt.open("qemu:///session")
    try:
        caps = host.domain_caps(conn, "tcg")
    finally:
        conn.close()
    assert caps.domain_type == "qemu"
    assert caps.machine and caps.machine.startswith("pc-q35-")
    assert caps.has_machine("q35") and caps.has_machine("pc")
    assert caps.max_vcpus and caps.max_vcpus >= 1
    if caps.efi_supported:
        assert caps.ovmf_path and ".ms." not in caps.ovmf_path
    assert caps.to_json()["ovmf_path"] == caps.ovmf_path


def test_parse_domain_caps_without_efi() -> None:
    xml = (
        "<domainCapabilities><path>/usr/bin/qemu-system-x86_64</path><domain>kvm</domain>"
        "<machine>pc-q35-8.0</machine><arch>x86_64</arch><vcpu max='4'/>"
        "<os supported='yes'><loader supported='no'/></os></domainCapabilities>"
    )
    caps = host.parse_domain_caps(xml)
    assert caps.domain_type == "kvm" and caps.machine == "pc-q35-8.0" and caps.max_vcpus == 4
    assert not caps.efi_supported and caps.ovmf_path is None


def test_dev_kvm_problem_detected() -> None:
    user = host.hypervisor_user("qemu:///system")
    problem = host.dev_kvm_problem(user)
    if Path("/dev/kvm").exists():
        st = Path("/dev/kvm").stat()
        reachable = st.st_gid in user.groups and st.st_mode & 0o060 == 0o060
        assert (problem is None) == reachable
    # A user outside the kvm group is always told how to fix it.
    outsider = host.HypervisorUser("nobody", 65534, 65534, (65534,), True)
    if Path("/dev/kvm").exists() and Path("/dev/kvm").stat().st_mode & 0o006 == 0:
        msg = host.dev_kvm_problem(outsider)
        assert msg is not None and "chmod 0660 /dev/kvm" in msg
