"""Bundle file sources behind a connector: ``sftp``, ``smb``, ``db``, ``rest`` and ``s3``.

Each goes through the connector of the manifest resource it names (``bundles.source_open``), so host-key checks, TLS,
credentials and error classification are the connectors' own; the contract they fulfil (``Entry``, ``FileSource``,
the path check) is ``bundles.sources``. Heavy libraries are never imported here.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from aetherflow.bundles.manifest import DEFAULT_MAX_MB
from aetherflow.bundles.sources import Entry, SourceError, SourceRefused

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


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
