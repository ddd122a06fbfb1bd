"""Download an installer ISO from the catalogue into the ISO folder, resumably.

Public API (stable): :func:`download` ``(os, arch=None, index=None,
sha256=None, progress=None, dest_dir=None) -> dict`` (``path, url, size,
sha256, resumed, checked``), reached as ``VMManager.download``;
:class:`DownloadJobs` runs them in the background for clients that poll the
progress (the REST API); :func:`iso_dir` — ``$KERNELSWITCH_ISO_DIR``, else
``isos`` beside the disk pool (``/var/lib/kernelswitch/isos`` for root), where
the hypervisor user can read what ``vm create --iso`` is given.

Each medium has its own file name (:func:`file_name`: OS, arch, a hash of
the catalogue URL, the URL's basename) and one download at a time per file.

Why resumable: ISOs are gigabytes and links get cut. Bytes go to
``NAME.iso.part``; a cut is resumed with an HTTP Range request (a few times
here, and again by running the same command later); a server that ignores
Range starts over. Only a complete file is renamed to ``NAME.iso``, after
the checks the data allows: the length the server announced, the ISO's
volume size from the osinfo database where it has one, and a SHA-256 the
user passes (osinfo-db carries no checksums). A failed check removes the
partial file: it would only resume into the same wrong bytes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .catalog import find_media, media_url
from .errors import DownloadError, InvalidVMSpec

__all__ = ["ISO_DIR_ENV", "DownloadJobs", "download", "file_name", "iso_dir"]

ISO_DIR_ENV = "KERNELSWITCH_ISO_DIR"
CHUNK = 1 << 20
ATTEMPTS = 4
TIMEOUT = 30.0
Progress = Callable[[int, "int | None"], None]


def iso_dir() -> Path:
    env = os.environ.get(ISO_DIR_ENV)
    if env:
        return Path(env)
    from .storage import default_pool_dir

    return default_pool_dir().parent / "isos"


_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def file_name(media: dict[str, Any]) -> str:
    """``<os>-<arch>-<url hash>-<basename>``: one name per medium.

    The URL's basename alone is shared across the catalogue (``boot.iso`` by
    22 NetBSD media): downloading netbsd7.0 after netbsd7.1 found "its" file
    already there with 7.1's bytes. The hash of the catalogue URL (not the
    mirror's) tells media apart; OS and arch keep the name readable.
    """
    url = media["url"]
    base = unquote(Path(urlsplit(url).path).name)
    if not base or not _SAFE.fullmatch(base):
        raise DownloadError(f"Cannot tell a safe file name from {url!r}.")
    tag = hashlib.sha256(url.encode()).hexdigest()[:8]
    prefix = "-".join(str(media.get(k) or "any") for k in ("os", "arch"))
    if not _SAFE.fullmatch(prefix):
        prefix = "iso"
    return f"{prefix}-{tag}-{base}"


@contextlib.contextmanager
def _locked(dest: Path) -> Iterator[None]:
    """One download per destination at a time, across threads and processes.

    ``flock`` on a hidden lock file beside it (each call opens its own, so two
    threads of one server exclude each other too). Before this, two jobs for
    one file shared the ``.part``: one renamed it away and reported the other's
    bytes, the other failed on the missing ``.part``. The holder removes the
    lock file before it lets go; a waiter that then wakes up on the removed
    file sees that its inode is no longer the path's and tries again.
    """
    lock = dest.with_name(f".{dest.name}.lock")
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except OSError as e:
            raise DownloadError(f"Cannot use the ISO folder {dest.parent}: {e.strerror}.") from e
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()
        os.close(fd)  # releases the lock


def _fetch(url: str, part: Path, say: Progress) -> tuple[int, bool]:
    """Append the rest of *url* to *part*; (total size, whether it resumed). Raises on a cut."""
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "kernelswitch"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=TIMEOUT)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing left to send: we have it all
            return have, True
        raise DownloadError(
            f"The server refused {url}: HTTP {e.code} {e.reason}.", details={"url": url}
        ) from e
    with resp:
        resumed = have > 0 and resp.status == 206
        if have and not resumed:
            have = 0  # the server ignored Range: start over
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        rng = resp.headers.get("Content-Range", "")
        m = re.search(r"/(\d+)$", rng)
        if m:
            total = int(m.group(1))
        done = have
        with open(part, "ab" if resumed else "wb") as f:
            say(done, total)
            while True:
                try:
                    chunk = resp.read(CHUNK)
                except (OSError, urllib.error.URLError) as e:
                    raise _Cut(done, total) from e
                if not chunk:
                    break
                f.write(chunk)
                done += len(chunk)
                say(done, total)
        if total is not None and done < total:
            raise _Cut(done, total)
        return done, resumed


class _Cut(Exception):
    def __init__(self, done: int, total: int | None) -> None:
        super().__init__(f"cut at {done} of {total} bytes")
        self.done, self.total = done, total


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def download(
    os_id: str,
    arch: str | None = None,
    index: int | None = None,
    sha256: str | None = None,
    progress: Progress | None = None,
    dest_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    if sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", sha256.strip()):
        msg = f"--sha256 must be 64 hexadecimal digits (got {sha256!r})."
        raise InvalidVMSpec(msg, details={"sha256": sha256})
    media = find_media(os_id, arch, index)
    url = media_url(media["url"])
    say: Progress = progress or (lambda _d, _t: None)
    folder = Path(dest_dir) if dest_dir is not None else iso_dir()
    dest = folder / file_name(media)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(folder.stat().st_mode | 0o005)  # our folder: the hypervisor reads ISOs
    except OSError as e:
        raise DownloadError(f"Cannot use the ISO folder {folder}: {e.strerror}.") from e
    with _locked(dest):
        return _download_locked(media, url, dest, sha256, say)


def _download_locked(
    media: dict[str, Any], url: str, dest: Path, sha256: str | None, say: Progress
) -> dict[str, Any]:
    part = dest.with_name(dest.name + ".part")
    result = {"os": media["os"], "url": url, "path": str(dest), "resumed": False, "checked": []}
    if dest.is_file():  # the same medium (the name says which), maybe just finished by another
        _check(dest, media, sha256, None, result, remove=False)
        return {**result, "size": dest.stat().st_size, "already_there": True}
    total: int | None = None
    for attempt in range(ATTEMPTS):
        try:
            total, resumed = _fetch(url, part, say)
            result["resumed"] = result["resumed"] or resumed
            break
        except _Cut as cut:
            total = cut.total
            result["resumed"] = True  # the next attempt continues from here
            if attempt == ATTEMPTS - 1:
                msg = (
                    f"The download of {url} was cut at {cut.done} of {cut.total or '?'} bytes, "
                    f"{ATTEMPTS} times. The part is kept in {part}: run the same command again "
                    "to resume."
                )
                raise DownloadError(msg, details={"url": url, "part": str(part)}) from cut
        except urllib.error.URLError as e:
            host = urlsplit(url).netloc
            msg = (
                f"Cannot reach {host} to download {dest.name}: {e.reason}. Check the network "
                "(or a proxy: set KERNELSWITCH_ISO_MIRROR to a mirror), then run the same "
                "command again; a partial download resumes."
            )
            raise DownloadError(msg, details={"url": url}) from e
        except OSError as e:  # a timeout or reset before any byte came
            if attempt == ATTEMPTS - 1:
                raise DownloadError(f"Downloading {url} failed: {e}.") from e
    _check(part, media, sha256, total, result, remove=True)
    part.rename(dest)
    return {**result, "size": dest.stat().st_size, "already_there": False}


def _check(
    path: Path,
    media: dict[str, Any],
    sha256: str | None,
    total: int | None,
    result: dict[str, Any],
    *,
    remove: bool,
) -> None:
    """Length, volume size and checksum; a failure removes *path* when *remove*."""
    size = path.stat().st_size
    problem = None
    if total is not None and size != total:
        problem = f"it has {size} bytes, the server announced {total}"
    elif total is not None:
        result["checked"].append("length")
    if problem is None and media.get("volume_size") and size < media["volume_size"]:
        problem = f"it has {size} bytes, less than the ISO volume size {media['volume_size']}"
    elif media.get("volume_size"):
        result["checked"].append("volume size")
    if problem is None and sha256 is not None:
        got = _sha256(path)
        result["sha256"] = got
        if got != sha256.strip().lower():
            problem = f"its SHA-256 is {got}, not the expected {sha256.strip().lower()}"
        else:
            result["checked"].append("sha256")
    if problem is None:
        return
    if remove:
        path.unlink(missing_ok=True)
    what = "removed it" if remove else "kept it (it was there before)"
    raise DownloadError(
        f"The download of {media['os']} failed its check: {problem}. kernelswitch {what}; "
        "try again, or another mirror.",
        details={"path": str(path), "os": media["os"]},
    )


class DownloadJobs:
    """Downloads running in the background, so a client can poll their progress.

    Public API: ``start(os, **options) -> dict`` (a job's status; the same job
    when that medium is already downloading), ``status(job_id) -> dict`` with
    ``id, os, state`` (running / done / failed), ``done``, ``total``,
    ``result`` or ``error`` (``{code, message}``). Thread-safe; the server
    keeps one instance. Finished jobs are kept for the last few clients.
    """

    KEEP = 20

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._jobs: dict[str, dict[str, Any]] = {}

    def start(self, os_id: str, **options: Any) -> dict[str, Any]:
        import threading
        import uuid

        # bad input: raise now; the medium (not the OS: it may have several) names the job
        url = find_media(os_id, options.get("arch"), options.get("index"))["url"]
        with self._lock:
            for job in self._jobs.values():
                if job["_url"] == url and job["state"] == "running":
                    return _public(job)
            job_id = uuid.uuid4().hex[:12]
            job = {"id": job_id, "os": os_id, "state": "running", "done": 0, "total": None,
                   "_url": url}  # fmt: skip
            self._jobs[job_id] = job
            for old in [k for k, j in self._jobs.items() if j["state"] != "running"][: -self.KEEP]:
                del self._jobs[old]

        def progress(done: int, total: int | None) -> None:
            job["done"], job["total"] = done, total

        def run() -> None:
            try:
                job["result"] = download(os_id, progress=progress, **options)
                job["state"] = "done"
            except Exception as e:  # reported to the poller, not lost in a thread
                code = getattr(e, "code", "internal")
                job["error"] = {"code": code, "message": getattr(e, "message", str(e))}
                job["state"] = "failed"

        threading.Thread(target=run, name=f"ks-download-{os_id}", daemon=True).start()
        return _public(job)

    def status(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                from .errors import VMNotFound

                raise VMNotFound(f"No download {job_id!r} (finished ones are kept a while).")
            return _public(job)


def _public(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if not k.startswith("_")}
