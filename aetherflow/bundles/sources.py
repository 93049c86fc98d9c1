"""Bundle sources: list the files of a bundle (with what the fingerprint needs) and fetch them.

docs/reference/plugins-and-bundles.md. Two shapes:

* file sources (``filesystem``, ``sftp``, ``smb``, ``db``, ``rest``, ``s3``) list one ``Entry`` per file and fetch
  files one by one; remote ones go through the built-in connectors (``ConnectorInit`` from a manifest resource), so
  host-key checks, TLS, credentials and error classification are the connectors' own;
* tree sources (``git`` in ``git_source``, ``archive`` in ``archive_source``) list one entry whose signature stands
  for the whole tree (commit, archive hash) and materialise the tree in a scratch directory.

Listed paths go through the one path-safety check (``aetherflow.api.safe_join``) that ``unzip`` uses too.

Heavy libraries are never imported here: the connectors import theirs on first use.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from aetherflow.api import ArchiveRefused, Permanent, safe_join
from aetherflow.bundles.cache import sha256_file
from aetherflow.bundles.manifest import DEFAULT_MAX_MB

__all__ = [
    "Entry",
    "FileSource",
    "SourceError",
    "SourceRefused",
    "TreeSource",
    "check_rel_path",
    "safe_url",
]

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
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


# -- connector sources -------------------------------------------------------------------------------------------------


class SftpSource:
    """``sftp`` (and ``smb`` through a built-in connector): walk ``base_path`` recursively and download files."""

    def __init__(self, connector: Any, base_path: str) -> None:
        self.connector = connector
        self.base = base_path

    def list_entries(self) -> list[Entry]:
        """Regular files under the base (size and mtime; SFTP has no content hash)."""
        found = self.connector.list_files(self.base, recursive=True)
        return [
            Entry(rel_path=str(f["rel_path"]), locator=str(f["path"]), size=f.get("size"), mtime=f.get("mtime"))
            for f in found
        ]

    def fetch(self, entry: Entry, dest: Path) -> None:
        """Download one file."""
        self.connector.download(entry.locator, dest)

    def close(self) -> None:
        """Close the SSH session."""
        self.connector.close()


class SmbSource:
    """``smb`` through a plugin connector with the upstream contract: ``list(dir)`` entries and ``read_bytes(path)``.

    The built-in SMB connectors are read like SFTP (``SftpSource``); this serves SMB connectors registered by legacy
    plugins (``kind: smb``), used as upstream used them.
    """

    def __init__(self, connector: Any, base_path: str) -> None:
        self.connector = connector
        self.base = base_path.rstrip("/\\")

    def list_entries(self) -> list[Entry]:
        """Walk the share from the base path."""
        entries: list[Entry] = []
        pending: list[tuple[str, str]] = [(self.base, "")]
        while pending:
            current, rel_dir = pending.pop()
            for item in self.connector.list(current) or []:
                name = str(_field(item, "name") or PurePosixPath(str(_field(item, "path") or "")).name)
                if not name or name in (".", ".."):
                    continue
                rel = f"{rel_dir}/{name}" if rel_dir else name
                child = f"{current}/{name}" if current else name
                if _field(item, "is_dir"):
                    pending.append((child, rel))
                    continue
                entries.append(
                    Entry(
                        rel_path=rel,
                        locator=child,
                        size=_field(item, "size"),
                        mtime=_field(item, "mtime"),
                        sha256=_hex(_field(item, "sha256")),
                    )
                )
        return entries

    def fetch(self, entry: Entry, dest: Path) -> None:
        """Read one file."""
        dest.write_bytes(bytes(self.connector.read_bytes(entry.locator)))

    def close(self) -> None:
        """Close the connector."""
        close = getattr(self.connector, "close", None)
        if callable(close):
            close()


class DbSource:
    """``db``: ``list_sql`` gives ``path, sha256, size, updated_at`` rows, ``fetch_sql`` the ``data`` of one path."""

    def __init__(self, connector: Any, *, bundle: str, list_sql: str, fetch_sql: str) -> None:
        self.connector = connector
        self.bundle = bundle
        self.list_sql = list_sql
        self.fetch_sql = fetch_sql

    def _rows(self, sql: str, params: Mapping[str, Any], size: int) -> tuple[list[str], list[Any]]:
        columns, batches = self.connector.fetch_batches(sql, dict(params), size)
        rows: list[Any] = []
        for batch in batches:  # always drained: the connector closes its connection when the iterator ends
            rows.extend(batch)
        return [str(c).lower() for c in columns], rows

    def list_entries(self) -> list[Entry]:
        """One entry per row with a path."""
        columns, rows = self._rows(self.list_sql, {"bundle": self.bundle}, 1000)
        if not columns:
            raise SourceError("bundle list_sql returned no columns (expected path, sha256, size, updated_at)")
        at = {name: i for i, name in enumerate(columns)}
        path_at = at.get("path", 0)
        entries: list[Entry] = []
        for row in rows:
            path = row[path_at]
            if path is None or str(path) == "":
                continue  # entries with no path are ignored (docs/reference/plugins-and-bundles.md)
            entries.append(
                Entry(
                    rel_path=str(path),
                    locator=str(path),
                    sha256=_hex(row[at["sha256"]]) if "sha256" in at else None,
                    size=_int(row[at["size"]]) if "size" in at else None,
                    mtime=_timestamp(row[at["updated_at"]]) if "updated_at" in at else None,
                )
            )
        return entries

    def fetch(self, entry: Entry, dest: Path) -> None:
        """The first column of the first ``fetch_sql`` row."""
        _columns, rows = self._rows(self.fetch_sql, {"bundle": self.bundle, "path": entry.locator}, 1)
        if not rows:
            raise SourceRefused(f"bundle file '{entry.locator}' not found by fetch_sql (bundle '{self.bundle}')")
        dest.write_bytes(_as_bytes(rows[0][0]))

    def close(self) -> None:
        """Dispose of the engine."""
        self.connector.close()


class RestSource:
    """``rest``: ``GET <list_path>?bundle=&<prefix_param>=`` lists ``{"files": [...]}``, ``GET <fetch_path>`` a file."""

    def __init__(
        self,
        connector: Any,
        *,
        bundle: str,
        base_path: str,
        list_path: str,
        fetch_path: str,
        prefix_param: str,
        max_mb: float = DEFAULT_MAX_MB,
    ) -> None:
        self.connector = connector
        self.max_mb = max_mb
        self.bundle = bundle
        self.base = base_path
        self.list_path = list_path
        self.fetch_path = fetch_path
        self.prefix_param = prefix_param

    def list_entries(self) -> list[Entry]:
        """The ``files`` of the listing document."""
        import json

        params = {"bundle": self.bundle, self.prefix_param: self.base}
        answer = self.connector.request("GET", self.list_path, params=params, max_body_bytes=64 << 20)
        body = answer.get("body")
        if body is None:
            raise SourceError(f"bundle listing {self.list_path} is larger than 64 MiB")
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise SourceError(f"bundle listing {self.list_path} is not JSON: {exc}") from None
        files = document.get("files") if isinstance(document, dict) else None
        if not isinstance(files, list):
            raise SourceError(f'bundle listing {self.list_path} must be {{"files": [...]}}')
        entries: list[Entry] = []
        for item in files:
            if not isinstance(item, dict) or not item.get("path"):
                continue
            entries.append(
                Entry(
                    rel_path=str(item["path"]),
                    locator=str(item["path"]),
                    sha256=_hex(item.get("sha256")),
                    size=_int(item.get("size")),
                    mtime=_timestamp(item.get("mtime")),
                )
            )
        return entries

    def fetch(self, entry: Entry, dest: Path) -> None:
        """Stream one file to ``dest``; a file listed or served larger than ``max_mb`` is refused."""
        limit = int(self.max_mb * (1 << 20))
        if entry.size is not None and entry.size > limit:
            raise self._too_large(entry, f"listed size {entry.size}")
        params = {"bundle": self.bundle, "path": entry.locator}
        answer = self.connector.request("GET", self.fetch_path, params=params, output=dest, max_body_bytes=0)
        received = _int(answer.get("bytes")) if isinstance(answer, Mapping) else None
        if received is not None and received > limit:
            dest.unlink(missing_ok=True)
            raise self._too_large(entry, f"{received} bytes received")

    def _too_large(self, entry: Entry, seen: str) -> SourceRefused:
        return SourceRefused(
            f"bundle file '{entry.rel_path}' from {self.fetch_path} is larger than bundle.source.max_mb "
            f"{self.max_mb:g} ({seen})"
        )

    def close(self) -> None:
        """Close pooled connections."""
        self.connector.close()


class S3Source:
    """``s3``: objects under a prefix (``base_path``; ``bucket/prefix`` when the resource names no bucket)."""

    def __init__(self, connector: Any, base_path: str | None) -> None:
        self.connector = connector
        raw = (base_path or "").strip()
        if raw.startswith("s3://"):
            raw = raw[len("s3://") :]
        default_bucket = getattr(connector, "default_bucket", None)
        if default_bucket:
            self.bucket, prefix = str(default_bucket), raw
        else:
            self.bucket, _, prefix = raw.partition("/")
            if not self.bucket:
                raise SourceError("s3 bundle source needs a bucket: set config.bucket or base_path 'bucket/prefix'")
        prefix = prefix.strip("/")
        self.prefix = f"{prefix}/" if prefix else ""

    def list_entries(self) -> list[Entry]:
        """Objects under the prefix (ETag, size, last-modified)."""
        found = self.connector.list_objects(self.bucket, prefix=self.prefix)
        return [
            Entry(
                rel_path=str(o["rel_path"]),
                locator=str(o["key"]),
                size=_int(o.get("size")),
                mtime=_timestamp(o.get("mtime")),
                etag=str(o.get("etag") or "") or None,
            )
            for o in found
            if o.get("rel_path")
        ]

    def fetch(self, entry: Entry, dest: Path) -> None:
        """Download one object."""
        self.connector.download(self.bucket, entry.locator, dest)

    def close(self) -> None:
        """Drop the client."""
        self.connector.close()


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


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)


def _hex(value: Any) -> str | None:
    if value is None:
        return None
    text = value.decode() if isinstance(value, bytes) else str(value)
    text = text.strip().lower()
    if text.startswith("sha256:"):
        text = text[len("sha256:") :]
    return text if _SHA256.match(text) else None


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _timestamp(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return moment.timestamp()
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        pass
    try:
        return _timestamp(dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError:
        return None


def _as_bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise SourceError(f"fetch_sql returned a {type(value).__name__}, expected bytes or text in the first column")


def with_sha(entry: Entry, sha256: str, size: int) -> Entry:
    """``entry`` with its content hash known."""
    return replace(entry, sha256=sha256, size=entry.size if entry.size is not None else size)
