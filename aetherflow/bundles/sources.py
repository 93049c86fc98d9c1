"""Bundle sources: list the files of a bundle (with what the fingerprint needs) and fetch them.

docs/reference/plugins-and-bundles.md. Two shapes:

* file sources (``filesystem``, ``sftp``, ``smb``, ``db``, ``rest``, ``s3``) list one ``Entry`` per file and fetch
  files one by one; remote ones (``remote_sources``) go through the built-in connectors (a manifest resource), so
  host-key checks, TLS, credentials and error classification are the connectors' own;
* tree sources (``git`` in ``git_source``, ``archive`` in ``archive_source``) list one entry whose signature stands
  for the whole tree (commit, archive hash) and materialise the tree in a scratch directory.

Listed paths go through the one path-safety check (``aetherflow.api.safe_join``) that ``unzip`` uses too.

Heavy libraries are never imported here: the connectors import theirs on first use.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from aetherflow.api import ArchiveRefused, Permanent, safe_join
from aetherflow.bundles.cache import sha256_file

__all__ = [
    "Entry",
    "FileSource",
    "SourceError",
    "SourceRefused",
    "TreeSource",
    "check_rel_path",
    "safe_url",
]

HTTP_TIMEOUT_SECONDS = 60.0


class SourceError(Exception):
    """A source could not be listed or fetched (the message says which and why)."""


class SourceRefused(Permanent, SourceError):
    """The source answered with something retrying cannot fix: a checksum that does not match the pin, a download
    over the cap, a redirect from https to http, a git base_path that is a symbolic link, a 4xx answer, a missing
    local archive or folder."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One listed bundle file (or, for tree sources, the tree)."""

    rel_path: str
    locator: str = ""  # how the source fetches it: remote path, object key, local path ...
    size: int | None = None
    mtime: float | None = None
    sha256: str | None = None
    etag: str | None = None
    executable: bool = False
    signature: str | None = None  # set by tree sources: "git:<commit>"

    def fingerprint_signature(self, *, strict: bool) -> str:
        """``sha256:<hex>`` when the hash is known, ``etag:<etag>`` (S3, not strict), else ``sz:<n>|mt_ms:<ms>``."""
        if self.signature:
            return self.signature
        if self.sha256:
            return f"sha256:{self.sha256}"
        if self.etag and not strict:
            return f"etag:{self.etag}"
        return f"sz:{self.size or 0}|mt_ms:{int((self.mtime or 0) * 1000)}"


class FileSource(Protocol):
    """A source listed and fetched file by file."""

    def list_entries(self) -> list[Entry]: ...

    def fetch(self, entry: Entry, dest: Path) -> None: ...

    def close(self) -> None: ...


class TreeSource(Protocol):
    """A source fetched as a whole tree."""

    def list_entries(self) -> list[Entry]: ...

    def materialize(self, workdir: Path) -> Path: ...

    def close(self) -> None: ...


def check_rel_path(raw: str) -> str:
    """A listed path as a safe relative POSIX path; absolute paths, ``..`` and empty paths are refused."""
    text = str(raw).replace("\\", "/")
    try:
        joined = safe_join(".", text)
    except ArchiveRefused as exc:
        raise SourceRefused(f"unsafe path in the bundle listing: {raw!r} ({exc.reason})") from None
    if joined == Path("."):
        raise SourceRefused(f"unsafe path in the bundle listing: {raw!r} (empty)")
    return joined.as_posix()


def safe_url(url: str) -> str:
    """``url`` without user info or query (credentials never reach logs or errors)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    if not parts.scheme or not parts.netloc:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


# -- filesystem -------------------------------------------------------------------------------------------------------


class FilesystemSource:
    """``filesystem`` (alias ``local``): walk a local directory (a mounted volume, a ConfigMap, a test dir)."""

    def __init__(self, base_path: str, *, strict: bool) -> None:
        self.base = Path(base_path)
        self.strict = strict

    def list_entries(self) -> list[Entry]:
        """Regular files under the base, hashed when the fingerprint is strict."""
        if not self.base.is_dir():
            raise SourceRefused(f"bundle source directory not found: {self.base}")
        entries: list[Entry] = []
        for directory, dirs, files in os.walk(self.base):
            # ".git" is not bundle content; "..data" / "..<timestamp>" are Kubernetes volume internals whose
            # files are also reachable through the visible links
            dirs[:] = sorted(d for d in dirs if d != ".git" and not d.startswith(".."))
            for name in sorted(files):
                if name.startswith(".."):
                    continue
                path = Path(directory, name)
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue  # a dangling link
                if not stat.S_ISREG(st.st_mode):
                    continue
                sha = sha256_file(path)[0] if self.strict else None
                entries.append(
                    Entry(
                        rel_path=path.relative_to(self.base).as_posix(),
                        locator=str(path),
                        size=st.st_size,
                        mtime=st.st_mtime,
                        sha256=sha,
                        executable=bool(st.st_mode & 0o111),
                    )
                )
        return entries

    def fetch(self, entry: Entry, dest: Path) -> None:
        """Copy the file."""
        shutil.copyfile(entry.locator, dest)

    def close(self) -> None:
        """Nothing to release."""


def walk_tree(root: Path) -> Iterable[tuple[str, Path, bool]]:
    """``(rel_path, path, executable)`` of the regular files under ``root`` (``.git`` skipped).

    A symbolic link is followed only when it resolves inside ``root``; one pointing outside refuses the tree.
    """
    real_root = os.path.realpath(root)
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(files):
            path = Path(directory, name)
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                real = os.path.realpath(path)
                if os.path.commonpath([real, real_root]) != real_root:
                    raise SourceError(f"bundle tree has a symbolic link pointing outside it: {rel}")
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            if stat.S_ISREG(st.st_mode):
                yield rel, path, bool(st.st_mode & 0o111)


# -- value helpers ----------------------------------------------------------------------------------------------------


def with_sha(entry: Entry, sha256: str, size: int) -> Entry:
    """``entry`` with its content hash known."""
    return replace(entry, sha256=sha256, size=entry.size if entry.size is not None else size)
