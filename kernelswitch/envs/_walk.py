"""Walk directory trees looking for environment roots, fast and loop-free.

One ``scandir`` per directory; ``d_type`` and ``d_ino`` come with the listing,
so real directories cost no ``stat``. Directory symlinks are followed only
after the real tree is done, and only to folders not seen yet, so a loop (or a
link to something already scanned) ends at once and the real path of an env
wins over a link to it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from os import DirEntry, sep
from os.path import isdir, isfile

#: Folder names never descended into: they hold no environments worth a look
#: (or, like .tox, only throwaway ones) and can be huge.
PRUNE = frozenset(
    {
        "node_modules",
        ".git",
        ".hg",
        ".svn",
        "__pycache__",
        "site-packages",
        "dist-packages",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".ipynb_checkpoints",
        ".cache",
        ".npm",
        ".yarn",
        ".cargo",
        ".rustup",
        ".gradle",
        ".m2",
        ".Trash",
        "Trash",
        "proc",
    }
)

Key = tuple[int, int]


@dataclass
class Found:
    prefix: str
    has_cfg: bool
    has_conda_meta: bool


@dataclass
class WalkResult:
    found: list[Found] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    partial: bool = False


def walk(
    roots: list[str],
    depth: int,
    deadline: float,
    skip: set[Key],
    prune: frozenset[str] = PRUNE,
    clock: Callable[[], float] = time.monotonic,
) -> WalkResult:
    """Find folders holding ``pyvenv.cfg`` or ``conda-meta/`` under ``roots``.

    ``skip`` holds (dev, inode) of folders already known (envs from the
    locators' own places): they are neither listed nor reported again.
    An env's own subfolders are not descended into, except a conda base's
    ``envs/``. Stops at ``deadline`` (``clock()`` time) with ``partial`` set.
    """
    res = WalkResult()
    visited: set[Key] = set(skip)
    # (path, depth, (dev, inode))
    stack: list[tuple[str, int, Key]] = []
    links: list[tuple[str, int]] = []
    for r in reversed(roots):
        try:
            st = os.stat(r)
        except OSError as err:
            res.errors.append((r, f"cannot scan {r}: {err.strerror}"))
            continue
        key = (st.st_dev, st.st_ino)
        if key in visited:
            continue
        visited.add(key)
        stack.append((r, 0, key))

    n = 0
    while True:
        if not stack:
            if not links:
                break
            # the real trees are done: follow links to folders not seen yet
            path, d = links.pop()
            try:
                st = os.stat(path)
            except OSError:
                continue  # dangling link: nothing to scan
            key = (st.st_dev, st.st_ino)
            if key in visited:
                continue
            visited.add(key)
            stack.append((path, d, key))
            continue
        path, d, here = stack.pop()
        n += 1
        if n & 127 == 0 and clock() > deadline:
            res.partial = True
            break
        if d >= depth:
            # a leaf: only its markers matter, and two stats beat a listing
            has_cfg = isfile(path + sep + "pyvenv.cfg")
            has_conda = isdir(path + sep + "conda-meta")
            if has_cfg or has_conda:
                res.found.append(Found(path, has_cfg, has_conda))
            continue
        try:
            it = os.scandir(path)
        except OSError as err:
            res.errors.append((path, f"cannot list {path}: {err.strerror}"))
            continue
        has_cfg = has_conda = False
        dirs: list[DirEntry[str]] = []
        links_here: list[str] = []
        with it:
            for e in it:
                name = e.name
                if name in prune:
                    continue
                try:
                    if e.is_dir(follow_symlinks=False):
                        if name == "conda-meta":
                            has_conda = True
                        else:
                            dirs.append(e)
                    elif name == "pyvenv.cfg":
                        has_cfg = True
                    elif e.is_symlink() and e.is_dir():
                        links_here.append(e.path)
                except OSError:
                    continue
        if has_cfg or has_conda:
            res.found.append(Found(path, has_cfg, has_conda))
            if not has_conda:
                continue
            dirs = [e for e in dirs if e.name == "envs"]
            links_here = []
        dev = here[0]
        d1 = d + 1
        for e in dirs:
            key = (dev, e.inode())
            if key in visited:
                continue
            visited.add(key)
            stack.append((e.path, d1, key))
        for p in links_here:
            links.append((p, d1))
    return res

