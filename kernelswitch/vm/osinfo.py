"""The operating-system database (libosinfo through PyGObject).

Public API (stable; used by the VM manager, the REST handlers and the CLI):

- :func:`identify` ``(iso_path, timeout=10.0) -> OSInfo | None`` — which OS an
  installer ISO holds; ``None`` when libosinfo does not know it. Blocking: call
  it off the event loop, or use :func:`identify_async`.
- :func:`identify_or_raise` — same, but raises :class:`OSNotIdentified` whose
  ``details['oses']`` is the searchable list (never a dead end: the user picks
  one and passes ``--os``).
- :func:`list_oses` ``(query=None) -> list[OSInfo]`` — the database, filtered
  by every word of *query* (matched against short id, name, distro, version).
- :func:`get_os` ``(short_id) -> OSInfo`` — raises :class:`InvalidVMSpec` with
  close matches when the id is unknown. :data:`GENERIC` stands for "unknown OS".
- :func:`os_name` ``(os_id) -> str | None`` — the name a person reads for a
  recorded OS id ("Alpine Linux 3.17"), ``None`` when no OS is recorded.
- :func:`db_info` — osinfo-db version, date and age in days (for ``doctor``).

The database is loaded once per process (~0.3 s) under a lock and cached.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import datetime as _dt
import difflib
import threading
from pathlib import Path
from typing import Any

from .errors import HostError, InvalidVMSpec, OSNotIdentified

__all__ = [
    "GENERIC",
    "OSInfo",
    "db_info",
    "get_os",
    "identify",
    "identify_async",
    "identify_or_raise",
    "list_oses",
    "os_name",
]

#: The id libvirt tools record when the OS is not known.
UNKNOWN_OS_ID = "http://libosinfo.org/unknown"

#: Architecture whose resource and firmware entries we read (guests are x86_64).
ARCH = "x86_64"

_DB_LOCK = threading.RLock()
_DB: Any = None
_OS_CACHE: dict[str, OSInfo] = {}
_OS_LIST: list[OSInfo] | None = None
_NAMES: dict[str, str] | None = None


@dataclasses.dataclass(frozen=True)
class OSInfo:
    """What the VM builder needs to know about one OS (sizes in bytes)."""

    id: str
    short_id: str
    name: str
    version: str | None = None
    family: str | None = None
    distro: str | None = None
    vendor: str | None = None
    release_date: str | None = None
    eol_date: str | None = None
    recommended_memory: int | None = None
    minimum_memory: int | None = None
    recommended_cpus: int | None = None
    minimum_cpus: int | None = None
    recommended_storage: int | None = None
    minimum_storage: int | None = None
    requires_uefi: bool = False
    supports_uefi: bool = False
    supports_virtio_blk: bool = False
    supports_virtio_net: bool = False
    supports_virtio1: bool = False
    supports_q35: bool | None = None
    devices: tuple[str, ...] = ()

    @property
    def is_generic(self) -> bool:
        return self.id == UNKNOWN_OS_ID

    def supports(self, device_name: str) -> bool:
        """Whether osinfo lists *device_name* (``'ich9-hda'``, ``'qemu-xhci'``...)."""
        return device_name in self.devices

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["devices"] = list(self.devices)
        return out

    def to_summary(self) -> dict[str, Any]:
        """The short form used in OS lists (pickers, error details)."""
        return {
            "id": self.id,
            "short_id": self.short_id,
            "name": self.name,
            "version": self.version,
            "family": self.family,
            "release_date": self.release_date,
        }


#: "We do not know the OS": conservative devices every x86 OS has drivers for
#: (SATA disk, e1000 NIC, BIOS), modest resources.
GENERIC = OSInfo(
    id=UNKNOWN_OS_ID,
    short_id="generic",
    name="Generic / unknown OS",
    recommended_memory=1024 * 1024**2,
    minimum_memory=64 * 1024**2,
    recommended_cpus=1,
    minimum_cpus=1,
    recommended_storage=10 * 1024**3,
    minimum_storage=16 * 1024**2,
    supports_q35=None,
)


# --------------------------------------------------------------------- loading


def _libosinfo() -> Any:
    # Under the database lock: a first gi import racing the database load in
    # another thread (the server preloads it) can crash inside GLib.
    try:
        with _DB_LOCK:
            import gi

            gi.require_version("Libosinfo", "1.0")
            from gi.repository import Libosinfo
    except (ImportError, ValueError) as e:
        msg = (
            f"libosinfo is not available to Python ({e}). Install the Debian packages "
            "gir1.2-libosinfo-1.0 and osinfo-db, and PyGObject<3.51 in this environment."
        )
        raise HostError(msg) from e
    return Libosinfo


def _db() -> Any:
    """The loaded database, loaded on first use (thread-safe)."""
    global _DB
    if _DB is not None:
        return _DB
    with _DB_LOCK:
        if _DB is None:
            lib = _libosinfo()
            loader = lib.Loader()
            try:
                loader.process_default_path()
            except Exception as e:  # GLib.Error
                msg = f"Could not load the osinfo database: {e}. Reinstall osinfo-db."
                raise HostError(msg) from e
            _DB = loader.get_db()
    return _DB


def preload() -> None:
    """Load the database now (servers call it at start, off the event loop)."""
    _db()


# ----------------------------------------------------------------- conversion


def _resources(os: Any, getter: str) -> tuple[int | None, int | None, int | None]:
    """(ram, cpus, storage) for our arch, falling back to 'all'; -1 means unknown."""
    found: dict[str, Any] = {}
    rlist = getattr(os, getter)()
    for i in range(rlist.get_length()):
        r = rlist.get_nth(i)
        found.setdefault(r.get_architecture(), r)
    ram = cpus = storage = None
    for arch in (ARCH, "all"):
        r = found.get(arch)
        if r is None:
            continue
        if ram is None and r.get_ram() > 0:
            ram = int(r.get_ram())
        if cpus is None and r.get_n_cpus() > 0:
            cpus = int(r.get_n_cpus())
        if storage is None and r.get_storage() > 0:
            storage = int(r.get_storage())
    return ram, cpus, storage


def _firmware(os: Any) -> tuple[bool, bool]:
    """(requires_uefi, supports_uefi) from the OS's firmware features.

    libosinfo marks UEFI-only systems (win11) with efi supported and bios
    explicitly unsupported; most Linux lists only efi as supported, which
    means "BIOS works too".
    """
    efi = bios = None
    flist = os.get_complete_firmware_list(None)
    for i in range(flist.get_length()):
        fw = flist.get_nth(i)
        if fw.get_architecture() not in (ARCH, "all"):
            continue
        if fw.get_firmware_type() == "efi":
            efi = bool(fw.is_supported())
        elif fw.get_firmware_type() == "bios":
            bios = bool(fw.is_supported())
    return bool(efi) and bios is False, bool(efi)


def _convert(os: Any) -> OSInfo:
    os_id = os.get_id()
    cached = _OS_CACHE.get(os_id)
    if cached is not None:
        return cached
    dlist = os.get_all_devices(None)
    names = sorted({dlist.get_nth(i).get_name() for i in range(dlist.get_length())})
    rec = _resources(os, "get_recommended_resources")
    mini = _resources(os, "get_minimum_resources")
    requires_uefi, supports_uefi = _firmware(os)
    virtio1 = any(n.startswith("virtio1.0") for n in names)
    info = OSInfo(
        id=os_id,
        short_id=os.get_short_id(),
        name=os.get_name() or os.get_short_id(),
        version=os.get_version(),
        family=os.get_family(),
        distro=os.get_distro(),
        vendor=os.get_vendor(),
        release_date=os.get_release_date_string(),
        eol_date=os.get_eol_date_string(),
        recommended_memory=rec[0],
        minimum_memory=mini[0],
        recommended_cpus=rec[1],
        minimum_cpus=mini[1],
        recommended_storage=rec[2],
        minimum_storage=mini[2],
        requires_uefi=requires_uefi,
        supports_uefi=supports_uefi,
        supports_virtio_blk="virtio-block" in names or "virtio1.0-block" in names,
        supports_virtio_net="virtio-net" in names or "virtio1.0-net" in names,
        supports_virtio1=virtio1,
        # osinfo lists the q35 chipset for OSes known to run on it; absence
        # only means "nobody recorded it", hence None rather than False.
        supports_q35=True if "qemu-x86-q35" in names else None,
        devices=tuple(names),
    )
    _OS_CACHE[os_id] = info
    return info


# ------------------------------------------------------------------- queries


def list_oses(query: str | None = None) -> list[OSInfo]:
    """All OSes (newest first within a family), or those matching every word of *query*."""
    global _OS_LIST
    if _OS_LIST is None:
        db = _db()
        with _DB_LOCK:
            if _OS_LIST is None:
                olist = db.get_os_list()
                oses = [_convert(olist.get_nth(i)) for i in range(olist.get_length())]
                oses.sort(key=lambda o: o.release_date or "", reverse=True)
                oses.sort(key=lambda o: (o.distro or o.family or "", o.vendor or ""))
                _OS_LIST = oses
    if not query:
        return list(_OS_LIST)
    words = query.lower().split()

    def hay(o: OSInfo) -> str:
        return " ".join(
            x for x in (o.short_id, o.name, o.distro, o.family, o.version, o.vendor) if x
        ).lower()

    return [o for o in _OS_LIST if all(w in hay(o) for w in words)]


def get_os(short_id: str) -> OSInfo:
    """The OS with this short id (``fedora37``) or full id URL; ``generic`` too."""
    key = (short_id or "").strip()
    if key in ("generic", "unknown", UNKNOWN_OS_ID):
        return GENERIC
    oses = list_oses()
    for o in oses:
        if o.short_id == key or o.id == key:
            return o
    # An OS can have several short ids (osinfo keeps old spellings).
    db = _db()
    olist = db.get_os_list()
    for i in range(olist.get_length()):
        raw = olist.get_nth(i)
        if key in (raw.get_short_id_list() or []):
            return _convert(raw)
    close = difflib.get_close_matches(key, [o.short_id for o in oses], n=5, cutoff=0.6)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    msg = (
        f"Unknown OS id {key!r}.{hint} List the known ones with `kernelswitch vm catalog` "
        "(or GET osinfo/oses?q=...), or use 'generic'."
    )
    raise InvalidVMSpec(msg, details={"os": key, "suggestions": close})


def os_name(os_id: str | None) -> str | None:
    """The OS's name for a VM record: UIs show "Alpine Linux 3.17", never a URL.

    An id the database does not know (a newer osinfo-db made the VM) keeps its
    URL's last two parts ("fedora/41"), as `%vm list` shows it; a host without
    libosinfo does the same rather than failing the VM list. A dict lookup:
    the VM list asks once per VM on every event snapshot.
    """
    global _NAMES
    if not os_id:
        return None
    if os_id == UNKNOWN_OS_ID:
        return GENERIC.name
    if _NAMES is None:
        try:
            _NAMES = {o.id: o.name for o in list_oses()}
        except HostError:
            _NAMES = {}
    name = _NAMES.get(os_id)
    if name:
        return name
    parts = os_id.rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) > 3 else os_id


# ------------------------------------------------------------ identification


def _identify_blocking(iso_path: str, cancellable: Any) -> OSInfo | None:
    db = _db()  # first: it imports gi under the lock
    lib = _libosinfo()
    try:
        media = lib.Media.create_from_location_with_flags(
            iso_path, cancellable, lib.MediaDetectFlags(0)
        )
    except Exception as e:  # GLib.Error: not an ISO, unreadable, cancelled
        msg = (
            f"Could not read {iso_path!r} as an installer image: {e}. "
            "Check that the file is a complete ISO 9660 image."
        )
        raise InvalidVMSpec(msg, details={"iso": iso_path}) from e
    with _DB_LOCK:  # the database object is not documented as thread-safe
        found = db.identify_media(media)
    if not found:
        return None
    os = media.get_os()
    return _convert(os) if os is not None else None


def identify(iso_path: str | Path, timeout: float = 10.0) -> OSInfo | None:
    """The OS on the ISO, or ``None`` if libosinfo does not know it. Blocking.

    Reading the ISO's volume descriptors is normally a few milliseconds; the
    timeout guards against slow or hung storage (NFS, FUSE). On timeout the
    read is cancelled and :class:`HostError` is raised.
    """
    path = str(iso_path)
    _db()  # load outside the timed part: loading is not the ISO's fault
    from gi.repository import Gio

    cancellable = Gio.Cancellable()
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="osinfo-identify")
    try:
        fut = pool.submit(_identify_blocking, path, cancellable)
        try:
            return fut.result(timeout=timeout)
        except concurrent.futures.TimeoutError as e:
            cancellable.cancel()
            msg = (
                f"Reading {path!r} to identify its OS took longer than {timeout:g} s. "
                "Copy the ISO to local storage, or pass the OS explicitly with --os."
            )
            raise HostError(msg, details={"iso": path}) from e
    finally:
        pool.shutdown(wait=False)


async def identify_async(iso_path: str | Path, timeout: float = 10.0) -> OSInfo | None:
    """:func:`identify` off the event loop."""
    return await asyncio.to_thread(identify, iso_path, timeout)


def not_identified_error(iso_path: str | Path) -> OSNotIdentified:
    """The error for an unknown ISO, carrying the OS list for a picker."""
    oses = [o.to_summary() for o in list_oses()]
    msg = (
        f"Could not identify the operating system on {str(iso_path)!r}. "
        "Pick it from the OS list (`vm oses QUERY` searches it, e.g. `vm oses fedora`) "
        "and pass it with --os SHORT_ID (for example --os fedora37), or --os generic."
    )
    return OSNotIdentified(msg, details={"iso": str(iso_path), "oses": oses})


def identify_or_raise(iso_path: str | Path, timeout: float = 10.0) -> OSInfo:
    found = identify(iso_path, timeout)
    if found is None:
        raise not_identified_error(iso_path)
    return found


# ------------------------------------------------------------------- doctor

_DB_DIRS = (Path("/usr/share/osinfo"), Path("/usr/local/share/osinfo"), Path("/etc/osinfo"))


def db_info(today: _dt.date | None = None) -> dict[str, Any]:
    """osinfo-db version (``YYYYMMDD``), its date and age in days, OS count.

    An old database cannot identify new releases; ``doctor`` uses the age to
    suggest updating osinfo-db (``osinfo-db-import --local --latest``).
    """
    version: str | None = None
    path: str | None = None
    for d in _DB_DIRS:
        vfile = d / "VERSION"
        if vfile.is_file():
            version = vfile.read_text(encoding="utf-8", errors="replace").strip()
            path = str(d)
            break
    date: _dt.date | None = None
    if version and len(version) >= 8 and version[:8].isdigit():
        try:
            date = _dt.datetime.strptime(version[:8], "%Y%m%d").date()
        except ValueError:
            date = None
    today = today or _dt.date.today()
    return {
        "version": version,
        "path": path,
        "date": date.isoformat() if date else None,
        "age_days": (today - date).days if date else None,
        "os_count": len(list_oses()),
    }
