"""Open and read files named by a user, without letting the name hurt the server.

Public API (stable):

- :func:`open_regular` ``(path, *, follow=True) -> int`` — a read-only file
  descriptor, only if *path* is a regular file.
- :func:`read_regular` ``(path, limit, *, what="file") -> bytes`` — its whole
  content, refused when over *limit* bytes.
- :class:`UnsafeFile` — the ``OSError`` both raise; ``str(e)`` is a sentence
  for the user (what the path is and what to pass instead).
- :data:`NOTEBOOK_LIMIT` — the most a notebook may weigh (50 MB).

Why: any path in a request is read by the server's user. ``/dev/zero`` read
with ``json.load`` grew the server to 21 GB and got it OOM-killed; a FIFO named
``f0.ipynb`` blocked a thread of the ``files`` pool forever (two of them
starved compare, install and ``GET envs``). So: the type is checked with
``stat`` first and again on the open descriptor with ``fstat`` (a name swapped
for a FIFO in between cannot block the open: ``O_NONBLOCK``), and the size is
checked before a byte is read and again while reading (a file that grows).
Engine-level: no web imports; callers turn :class:`UnsafeFile` into their
own error type.
"""

from __future__ import annotations

import errno
import os
import stat

__all__ = ["NOTEBOOK_LIMIT", "UnsafeFile", "open_regular", "read_regular"]

#: Largest notebook the server reads for a user (compare, align). Real ones
#: with embedded plots run to a few MB; 50 MB leaves room and bounds memory.
NOTEBOOK_LIMIT = 50 * 1024 * 1024

_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
_CHUNK = 1024 * 1024


class UnsafeFile(OSError):
    """The path is not a readable regular file, or is over the size limit."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB" if n >= 1024 * 1024 else f"{n} bytes"


def open_regular(path: str | os.PathLike[str], *, follow: bool = True, what: str = "file") -> int:
    """A read-only descriptor of *path*, only if it is a regular file.

    ``follow=False`` adds ``O_NOFOLLOW``: a symlink as the last component is
    refused (for files the server itself named, never a user's link).
    The caller closes the descriptor. Raises :class:`UnsafeFile`.
    """
    p = os.fspath(path)
    try:
        mode = os.stat(p).st_mode if follow else os.lstat(p).st_mode
    except FileNotFoundError as e:
        raise UnsafeFile(errno.ENOENT, f"the {what} {p} does not exist", p) from e
    except OSError as e:
        raise UnsafeFile(e.errno, f"cannot look at the {what} {p}: {e.strerror}", p) from e
    if stat.S_ISLNK(mode):
        raise UnsafeFile(errno.ELOOP, f"the {what} {p} is a symbolic link; pass the file itself", p)
    if not stat.S_ISREG(mode):
        msg = f"the {what} {p} is {_kind(mode)}, not a regular file; pass a {what} path"
        raise UnsafeFile(errno.EINVAL, msg, p)
    flags = _READ_FLAGS | (0 if follow else getattr(os, "O_NOFOLLOW", 0))
    try:
        fd = os.open(p, flags)
    except PermissionError as e:
        msg = f"cannot read the {what} {p}: permission denied (the server runs as another user)"
        raise UnsafeFile(errno.EACCES, msg, p) from e
    except OSError as e:
        raise UnsafeFile(e.errno, f"cannot open the {what} {p}: {e.strerror}", p) from e
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):  # swapped between stat and open
            msg = f"the {what} {p} is {_kind(mode)}, not a regular file; pass a {what} path"
            raise UnsafeFile(errno.EINVAL, msg, p)
        # reads from a regular file never block; clear the flag for clarity
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(
    path: str | os.PathLike[str], limit: int, *, what: str = "file", follow: bool = True
) -> bytes:
    """The bytes of the regular file *path*; :class:`UnsafeFile` when over *limit*."""
    p = os.fspath(path)
    fd = open_regular(p, follow=follow, what=what)
    try:
        size = os.fstat(fd).st_size
        if size > limit:
            raise UnsafeFile(errno.EFBIG, _too_big(what, p, size, limit), p)
        chunks: list[bytes] = []
        got = 0
        while True:
            chunk = os.read(fd, min(_CHUNK, limit + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
            if got > limit:  # it grew while we read
                raise UnsafeFile(errno.EFBIG, _too_big(what, p, got, limit), p)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _too_big(what: str, p: str, size: int, limit: int) -> str:
    return (
        f"the {what} {p} is {_mb(size)}, over the {_mb(limit)} limit; "
        f"pass a smaller {what} (clear its outputs, for a notebook)"
    )
