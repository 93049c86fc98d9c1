"""The one path-safety check and the size limits every extraction uses (``unzip``, bundle archives, bundle listings).

An archive is checked twice, because its headers can lie:

* before anything is written, from what it declares: every entry name must stay inside the destination, the entry
  count, the uncompressed total, the compression ratio (in total, and per entry above ``RATIO_ENTRY_FLOOR``) and the
  free space of the target file system must fit (``check_members``);
* while writing, ``WriteBudget`` counts the bytes actually written and stops an entry that grows past its declared
  size or an archive that grows past the limit.

Steps and connectors reach this module through ``aetherflow.api``; it imports nothing of AetherFlow but the errors.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING

from aetherflow.errors import InvalidValue

if TYPE_CHECKING:  # the core imports this module at start-up; the archive modules are only needed by extractions
    import tarfile
    import zipfile

__all__ = [
    "DEFAULT_MAX_ENTRIES",
    "DEFAULT_MAX_RATIO",
    "DEFAULT_MAX_TOTAL_MB",
    "ArchiveLimits",
    "ArchiveMember",
    "ArchiveRefused",
    "WriteBudget",
    "check_members",
    "entry_problem",
    "safe_join",
    "tar_member",
    "zip_member",
]

DEFAULT_MAX_TOTAL_MB = 20480
DEFAULT_MAX_ENTRIES = 200_000
DEFAULT_MAX_RATIO = 200.0
#: entries smaller than this are not ratio-checked on their own (a 1 KiB file of zeros compresses 1000:1)
RATIO_ENTRY_FLOOR = 1 << 20
_MIB = 1 << 20
_CHUNK = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")


class ArchiveRefused(InvalidValue):
    """An archive (or one of its entries) was refused before or while extracting; retrying cannot help.

    ``entry`` names the entry when one is to blame (an unsafe name, an entry larger than declared), ``reason`` says
    why. Recorded as ``ValueError: ...``, the name the step contract gives it.
    """


    def __init__(self, reason: str, *, entry: str | None = None, message: str | None = None) -> None:
        default = f"unsafe entry '{entry}': {reason}" if entry is not None else reason
        super().__init__(message or default)
        self.reason = reason
        self.entry = entry

    def about(self, who: str, archive: object) -> ArchiveRefused:
        """The same refusal worded for ``who`` (``unzip``): ``<who> refused unsafe entry '<e>' in <archive>: <why>``."""
        if self.entry is not None:
            message = f"{who} refused unsafe entry '{self.entry}' in {archive}: {self.reason}"
        else:
            message = f"{who} refused {archive}: {self.reason}"
        return ArchiveRefused(self.reason, entry=self.entry, message=message)


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """What one archive may expand to (the ``unzip`` inputs ``max_total_mb``, ``max_entries``, ``max_ratio``)."""

    max_total_mb: float = DEFAULT_MAX_TOTAL_MB
    max_entries: int = DEFAULT_MAX_ENTRIES
    max_ratio: float = DEFAULT_MAX_RATIO

    @property
    def max_total_bytes(self) -> int:
        """``max_total_mb`` in bytes."""
        return int(self.max_total_mb * _MIB)


@dataclass(frozen=True, slots=True)
class ArchiveMember:
    """What the checks need of one entry: its name, kind and declared sizes (``compressed`` None: not known)."""

    name: str
    size: int
    compressed: int | None = None
    kind: str = "file"  # file | dir | symlink | hardlink | special


def zip_member(info: zipfile.ZipInfo) -> ArchiveMember:
    """The checks' view of a zip entry (its central-directory sizes)."""
    if stat.S_ISLNK(info.external_attr >> 16):
        kind = "symlink"
    elif info.is_dir():
        kind = "dir"
    else:
        kind = "file"
    return ArchiveMember(info.filename, info.file_size, info.compress_size, kind)


def tar_member(info: tarfile.TarInfo) -> ArchiveMember:
    """The checks' view of a tar entry (a tar has no per-entry compressed size)."""
    if info.issym():
        kind = "symlink"
    elif info.islnk():
        kind = "hardlink"
    elif info.isdir():
        kind = "dir"
    elif info.isfile():
        kind = "file"
    else:
        kind = "special"
    return ArchiveMember(info.name, info.size if info.isfile() else 0, None, kind)


def entry_problem(name: str) -> str | None:
    """Why the entry name cannot be written under a destination (``absolute path``, ``parent traversal``), or None."""
    text = name.replace("\\", "/")
    if "\x00" in text:
        return "NUL in name"
    if text.startswith("/") or _DRIVE.match(text):
        return "absolute path"
    if ".." in text.split("/"):
        return "parent traversal"
    return None


def safe_join(root: str | os.PathLike[str], name: str) -> Path:
    """``root/name`` for an entry or listing name that stays inside ``root``; otherwise ``ArchiveRefused``.

    Purely lexical (nothing is resolved on disk): the name must be relative, without ``..`` components or NUL, and
    not empty once ``.`` components are dropped unless it is the root itself. Backslashes count as separators.
    """
    problem = entry_problem(str(name))
    if problem is not None:
        raise ArchiveRefused(problem, entry=str(name))
    parts = [p for p in PurePosixPath(str(name).replace("\\", "/")).parts if p != "."]
    base = Path(root)
    target = base.joinpath(*parts) if parts else base
    normal = Path(os.path.normpath(target))
    base_normal = Path(os.path.normpath(base))
    if normal != base_normal and base_normal not in normal.parents:
        raise ArchiveRefused("resolves outside the destination", entry=str(name))
    return normal


def check_members(
    members: Iterable[ArchiveMember],
    limits: ArchiveLimits,
    *,
    free_space_of: Path | None = None,
    archive_size: int | None = None,
) -> None:
    """Refuse the archive before anything is written: unsafe names, links, too many entries, too large, too dense.

    ``archive_size`` stands for the compressed total when the entries do not declare theirs (a compressed tar).
    """
    count = 0
    total = 0
    packed = 0
    packed_known = True
    for member in members:
        count += 1
        problem = entry_problem(member.name)
        if problem is None and member.kind in ("symlink", "hardlink"):
            problem = "symlink" if member.kind == "symlink" else "hard link"
        if problem is None and member.kind == "special":
            problem = "special file"
        if problem is not None:
            raise ArchiveRefused(problem, entry=member.name)
        total += max(member.size, 0)
        if member.compressed is None:
            packed_known = False
        else:
            packed += max(member.compressed, 0)
            if member.size > RATIO_ENTRY_FLOOR and member.size > limits.max_ratio * max(member.compressed, 1):
                ratio = member.size / max(member.compressed, 1)
                raise ArchiveRefused(
                    f"compression ratio {ratio:.0f} exceeds max_ratio {limits.max_ratio:g}", entry=member.name
                )
    if count > limits.max_entries:
        raise ArchiveRefused(f"{count} entries exceed max_entries {limits.max_entries}")
    if total > limits.max_total_bytes:
        raise ArchiveRefused(f"{total} bytes uncompressed exceed max_total_mb {limits.max_total_mb:g}")
    if not packed_known and archive_size is not None:
        packed, packed_known = archive_size, True
    if packed_known and total > RATIO_ENTRY_FLOOR and total > limits.max_ratio * max(packed, 1):
        raise ArchiveRefused(f"compression ratio {total / max(packed, 1):.0f} exceeds max_ratio {limits.max_ratio:g}")
    if free_space_of is not None:
        free = shutil.disk_usage(_existing(free_space_of)).free
        if total > free:
            raise ArchiveRefused(f"{total} bytes uncompressed exceed the {free} bytes free at {free_space_of}")


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


class WriteBudget:
    """Counts the bytes an extraction actually writes, against each entry's declared size and the archive limit."""

    def __init__(self, limits: ArchiveLimits, progress: Callable[[int], None] | None = None) -> None:
        self.limit = limits.max_total_bytes
        self.written = 0
        self._progress = progress  # gets ``written`` after each chunk

    def copy(self, source: IO[bytes], sink: IO[bytes], *, entry: str, declared: int | None) -> int:
        """Copy ``source`` to ``sink``; an entry past its declared size or the archive past the limit is refused."""
        copied = 0
        while chunk := source.read(_CHUNK):
            copied += len(chunk)
            self.written += len(chunk)
            if declared is not None and copied > declared:
                raise ArchiveRefused(f"larger than its declared size of {declared} bytes", entry=entry)
            if self.written > self.limit:
                raise ArchiveRefused(f"more than {self.limit} bytes written, the max_total_mb limit")
            sink.write(chunk)
            if self._progress is not None:
                self._progress(self.written)
        return copied
