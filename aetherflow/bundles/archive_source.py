"""The ``archive`` bundle source: a zip or tar file (local path or http(s) URL); its sha256 is the listing, unpacking
it the fetch.

Unpacking uses the same path-safety check and limits as the ``unzip`` step (entry count, uncompressed total, ratio,
free space, bytes actually written); links, devices and names leaving the tree refuse the whole archive before
anything is written. A pinned ``bundle.source.sha256`` is checked against the archive before it is unpacked.
"""

from __future__ import annotations

import contextlib
import os
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from aetherflow.api import ArchiveLimits, ArchiveRefused, WriteBudget, check_members, safe_join, tar_member, zip_member
from aetherflow.bundles.cache import BlobStore, sha256_file
from aetherflow.bundles.download import check_pin, download_archive
from aetherflow.bundles.manifest import DEFAULT_MAX_MB
from aetherflow.bundles.sources import HTTP_TIMEOUT_SECONDS, Entry, SourceError, SourceRefused, safe_url

__all__ = ["ArchiveSource", "Unzip"]

#: extracts a zip archive into a directory within the limits (the built-in archive connector)
Unzip = Callable[[Path, Path, ArchiveLimits], None]


class ArchiveSource:
    """``archive``: a zip or tar file (local path or http(s) URL); its sha256 is the listing, unpacking the fetch."""

    def __init__(
        self,
        location: str,
        *,
        is_url: bool,
        blobs: BlobStore,
        unzip: Unzip,
        sha256: str | None = None,
        max_mb: float = DEFAULT_MAX_MB,
        limits: ArchiveLimits | None = None,
    ) -> None:
        self.location = location
        self.is_url = is_url
        self.blobs = blobs
        self.unzip = unzip
        self.pin = sha256
        self.max_mb = max_mb
        self.limits = limits or ArchiveLimits()
        self.archive: Path | None = None

    def list_entries(self) -> list[Entry]:
        """One entry: the archive's name and content hash (checked against the pin)."""
        if self.is_url:
            parts = urlsplit(self.location)
            name = PurePosixPath(parts.path).name or "archive"
            if parts.scheme == "file":
                self.archive = Path(parts.path)
            elif parts.scheme in ("http", "https"):
                sha, _size = download_archive(
                    self.location, self.blobs, max_mb=self.max_mb, timeout=HTTP_TIMEOUT_SECONDS
                )
                check_pin(sha, self.pin, f"bundle archive {safe_url(self.location)}")
                self.archive = self.blobs.path(sha)
                return [Entry(rel_path=name, sha256=sha)]
            else:
                raise SourceError(f"archive url must be http(s):// or file://, got {safe_url(self.location)}")
        else:
            self.archive = Path(self.location)
            name = self.archive.name
        if not self.archive.is_file():
            raise SourceError(f"bundle archive not found: {self.archive}")
        sha = sha256_file(self.archive)[0]
        check_pin(sha, self.pin, f"bundle archive {self.archive}")
        return [Entry(rel_path=name, sha256=sha)]

    def materialize(self, workdir: Path) -> Path:
        """Unpack into ``workdir/unpacked``; unsafe entries (absolute, ``..``, links, devices) refuse the archive."""
        archive = self.archive
        if archive is None:
            self.list_entries()
            archive = self.archive
        assert archive is not None
        dest = workdir / "unpacked"
        dest.mkdir(parents=True, exist_ok=True)
        try:
            if zipfile.is_zipfile(archive):
                with zipfile.ZipFile(archive) as zf:
                    check_members([zip_member(i) for i in zf.infolist()], self.limits, free_space_of=dest)
                self.unzip(archive, dest, self.limits)
                _restore_zip_modes(archive, dest)
            elif tarfile.is_tarfile(archive):
                _extract_tar(archive, dest, self.limits)
            else:
                raise SourceError(f"bundle archive {archive.name} is neither a zip nor a tar archive")
        except ArchiveRefused as exc:
            raise _refused(archive, exc) from None
        return dest

    def close(self) -> None:
        """Nothing to release."""


def _refused(archive: Path, exc: ArchiveRefused) -> SourceRefused:
    if exc.entry is not None:
        return SourceRefused(f"bundle archive {archive.name} refused: unsafe entry '{exc.entry}' ({exc.reason})")
    return SourceRefused(f"bundle archive {archive.name} refused: {exc.reason}")


def _restore_zip_modes(archive: Path, dest: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            mode = info.external_attr >> 16
            if not info.is_dir() and mode & 0o111:
                with contextlib.suppress(OSError):
                    os.chmod(safe_join(dest, info.filename), 0o755)


def _extract_tar(archive: Path, dest: Path, limits: ArchiveLimits) -> None:
    with tarfile.open(archive, "r:*") as tf:
        members = tf.getmembers()
        check_members([tar_member(m) for m in members], limits, free_space_of=dest, archive_size=archive.stat().st_size)
        targets = [(member, safe_join(dest, member.name)) for member in members]
        budget = WriteBudget(limits)
        for member, target in targets:
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tf.extractfile(member)
            if source is None:
                continue
            with source, target.open("wb") as out:
                budget.copy(source, out, entry=member.name, declared=member.size)
            os.chmod(target, 0o755 if member.mode & 0o111 else 0o644)
