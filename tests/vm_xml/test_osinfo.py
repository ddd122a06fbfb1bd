"""libosinfo wrapper: identification, lookup, list, db facts (real libosinfo)."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest

from kernelswitch._paths import testos_dir
from kernelswitch.vm import osinfo
from kernelswitch.vm.errors import InvalidVMSpec, OSNotIdentified


def test_identify_fedora_label(fedora_iso: Path) -> None:
    found = osinfo.identify(fedora_iso)
    assert found is not None
    assert found.short_id == "fedora37"
    assert found.id == "http://fedoraproject.org/fedora/37"
    assert found.supports_virtio_blk and found.supports_virtio_net and found.supports_q35


def test_identify_plain_is_none(plain_iso: Path) -> None:
    assert osinfo.identify(plain_iso) is None


async def test_identify_async(fedora_iso: Path) -> None:
    found = await osinfo.identify_async(fedora_iso)
    assert found is not None and found.short_id == "fedora37"


def test_identify_or_raise_lists_oses(plain_iso: Path) -> None:
    with pytest.raises(OSNotIdentified) as e:
        osinfo.identify_or_raise(plain_iso)
    assert "--os" in e.value.message
    ids = {o["short_id"] for o in e.value.details["oses"]}
    assert {"fedora37", "win10", "debian11"} <= ids


def test_identify_not_an_iso(tmp_path: Path) -> None:
    f = tmp_path / "x.iso"
    f.write_text("not an image\n")
    with pytest.raises(InvalidVMSpec, match="ISO 9660"):
        osinfo.identify(f)


def test_identify_cached_testos_images() -> None:
    d = testos_dir()
    fedora, plain = d / "testos-fedora.iso", d / "testos-plain.iso"
    assert fedora.is_file() and plain.is_file(), (
        f"test OS images missing in {d}: run scripts/build-testos.sh"
    )
    found = osinfo.identify(fedora)
    assert found is not None and found.short_id == "fedora37"
    assert osinfo.identify(plain) is None


def test_get_os_and_suggestions() -> None:
    win11 = osinfo.get_os("win11")
    assert win11.requires_uefi and win11.supports_uefi
    assert not win11.supports_virtio_blk
    assert win11.minimum_memory == 4 * 1024**3 and win11.minimum_cpus == 2
    assert osinfo.get_os("http://debian.org/debian/11").short_id == "debian11"
    assert osinfo.get_os("generic") is osinfo.GENERIC
    fedora = osinfo.get_os("fedora37")
    assert not fedora.requires_uefi  # efi supported, BIOS still fine
    with pytest.raises(InvalidVMSpec) as e:
        osinfo.get_os("fedora73")
    assert "fedora37" in e.value.details["suggestions"]
    assert "Did you mean" in e.value.message


def test_list_oses_search() -> None:
    everything = osinfo.list_oses()
    assert len(everything) > 500
    debian = osinfo.list_oses("debian 11")
    assert [o.short_id for o in debian] == ["debian11"]
    assert all("win" in o.short_id for o in osinfo.list_oses("windows"))
    assert osinfo.list_oses("no such system at all") == []
    j = debian[0].to_json()
    assert j["short_id"] == "debian11" and isinstance(j["devices"], list)


def test_db_loaded_once_across_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(osinfo, "_DB", None)  # so the threads race to load it
    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(osinfo._db())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(x) for x in seen}) == 1


def test_db_info() -> None:
    info = osinfo.db_info(today=dt.date(2023, 12, 3))
    assert info["version"] and info["version"][:8].isdigit()
    assert info["date"] is not None
    assert info["age_days"] == (dt.date(2023, 12, 3) - dt.date.fromisoformat(info["date"])).days
    assert info["os_count"] > 500
