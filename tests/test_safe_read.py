"""kernelswitch._safe_read: only regular files, never blocking, never over the cap."""

from __future__ import annotations

import errno
import os
import re
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from kernelswitch._safe_read import NOTEBOOK_LIMIT, UnsafeFile, open_regular, read_regular


def test_reads_a_regular_file_within_the_limit(tmp_path: Path) -> None:
    f = tmp_path / "a.ipynb"
    f.write_bytes(b"x" * 100)
    assert read_regular(f, 100) == b"x" * 100
    with pytest.raises(UnsafeFile, match="100 bytes, over the 99 bytes limit") as e:
        read_regular(f, 99)
    assert e.value.errno == errno.EFBIG


def _bound_socket(path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))  # the socket file stays after close


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda p: os.mkfifo(p), "a named pipe (FIFO)"),
        (lambda p: p.mkdir(), "a folder"),
        (lambda p: _bound_socket(p), "a socket"),
    ],
)
def test_refuses_what_is_not_a_regular_file(
    tmp_path: Path, make: Callable[[Path], None], kind: str
) -> None:
    p = tmp_path / "thing"
    make(p)
    with pytest.raises(UnsafeFile, match=re.escape(f"is {kind}, not a regular file")) as e:
        read_regular(p, NOTEBOOK_LIMIT, what="notebook")
    assert e.value.errno == errno.EINVAL


def test_devices_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(UnsafeFile, match="/dev/zero is a device"):
        read_regular("/dev/zero", NOTEBOOK_LIMIT)
    with pytest.raises(UnsafeFile, match="does not exist") as e:
        read_regular(tmp_path / "nope", 10)
    assert e.value.errno == errno.ENOENT


def test_links_followed_only_when_asked(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.write_bytes(b"hello")
    link = tmp_path / "link"
    link.symlink_to(real)
    assert read_regular(link, 10) == b"hello"
    with pytest.raises(UnsafeFile, match="is a symbolic link"):
        open_regular(link, follow=False)


def test_carry_reports_are_read_safely(tmp_path: Path) -> None:
    """``carry_from`` names a folder of the caller's: a FIFO or a link to
    /dev/zero as its report is refused at once (it ran on the event loop)."""
    from kernelswitch.kernels._carry import _report
    from kernelswitch.kernels.errors import SwitchError

    os.mkfifo(tmp_path / "dump.json")
    (tmp_path / "load.json").symlink_to("/dev/zero")
    with pytest.raises(SwitchError, match=re.escape("is a named pipe (FIFO)")):
        _report(str(tmp_path), "dump.json")
    with pytest.raises(SwitchError, match="is a symbolic link"):
        _report(str(tmp_path), "load.json")
