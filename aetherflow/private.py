"""Private files and directories: what AetherFlow writes for itself is readable by its own user only.

The state database holds HTTP bodies, headers and cookies of step outputs; job directories hold downloaded data;
bundle directories hold plugins the runner imports. So the database (and its ``-wal``/``-shm``/``-journal``
companions) is 0600 and those directories 0700, whatever the umask; a database created by an older version is
tightened when it is opened. Tightening is best effort on files another user owns (the owner's choice then stands).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["DIR_MODE", "FILE_MODE", "private_database", "private_dir"]

FILE_MODE = 0o600
DIR_MODE = 0o700
_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_dir(path: Path, *, under: Path | None = None) -> Path:
    """Create ``path`` as a 0700 directory; with ``under``, every missing level below ``under`` too.

    An existing ``path`` is tightened to 0700; existing levels above it are left as they are (a shared work root
    may be group-writable on purpose).
    """
    levels = [path]
    below = _parts_below(path, under)
    if under is not None and below:
        under.mkdir(parents=True, exist_ok=True)  # the root itself (a work root, often a volume) keeps its mode
        # every level strictly below ``under``, deepest first (computed once: a job start creates four of these)
        levels = [under.joinpath(*below[:depth]) for depth in range(len(below), 0, -1)]
    for level in reversed(levels):
        with contextlib.suppress(FileExistsError):
            os.mkdir(level, DIR_MODE)
            os.chmod(level, DIR_MODE)  # mkdir's mode is filtered by the umask; the result must not depend on it
    if not path.is_dir():
        path.mkdir(parents=True, mode=DIR_MODE, exist_ok=True)
    _tighten(path, DIR_MODE)
    return path


def _parts_below(path: Path, under: Path | None) -> tuple[str, ...]:
    """The parts of ``path`` below ``under`` (lexically, as ``Path.parents``); empty when it is not below it."""
    if under is None:
        return ()
    try:
        return path.relative_to(under).parts
    except ValueError:
        return ()


def private_database(path: Path) -> None:
    """Create the SQLite file as 0600 before SQLite does (its companions inherit the mode), or tighten it."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    for candidate in (path, *(path.with_name(path.name + suffix) for suffix in _SQLITE_COMPANIONS)):
        if candidate.exists():
            _tighten(candidate, FILE_MODE)


def _tighten(path: Path, mode: int) -> None:
    with contextlib.suppress(PermissionError, FileNotFoundError):
        if os.stat(path).st_mode & 0o777 != mode:
            os.chmod(path, mode)
