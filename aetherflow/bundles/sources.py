"""Bundle sources: list the files of a bundle (with what the fingerprint needs) and fetch them.

docs/reference/plugins-and-bundles.md. Two shapes:

* file sources (``filesystem``, ``sftp``, ``smb``, ``db``, ``rest``, ``s3``) list one ``Entry`` per file and fetch
  files one by one; remote ones go through the built-in connectors (``ConnectorInit`` from a manifest resource), so
  host-key checks, TLS, credentials and error classification are the connectors' own;
* tree sources (``git``, ``archive``) list one entry whose signature stands for the whole tree (commit, archive
  hash) and materialise the tree in a scratch directory.

Heavy libraries are never imported here: the connectors import theirs on first use.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import stat
import subprocess
import tarfile
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from aetherflow.api import parent_death_preexec
from aetherflow.bundles.cache import BlobStore, sha256_file

__all__ = [
    "Entry",
    "FileSource",
    "SourceError",
    "TreeSource",
    "check_rel_path",
    "safe_url",
]

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[^:/]+:")
#: bounds on what an archive may expand to: a bundle is flows, profiles and plugins, not a data set
MAX_ARCHIVE_MEMBERS = 100_000
MAX_ARCHIVE_BYTES = 1 << 30
GIT_TIMEOUT_SECONDS = 300.0
HTTP_TIMEOUT_SECONDS = 60.0


class SourceError(Exception):
    """A source could not be listed or fetched (the message says which and why)."""


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
    """A listed path as a safe relative POSIX path; absolute paths and ``..`` are refused (remote listings)."""
    text = str(raw).replace("\\", "/")
    pure = PurePosixPath(text)
    if not text or "\x00" in text or pure.is_absolute() or re.match(r"^[A-Za-z]:", text):
        raise SourceError(f"unsafe path in the bundle listing: {raw!r} (absolute or empty)")
    if ".." in pure.parts:
        raise SourceError(f"unsafe path in the bundle listing: {raw!r} (parent traversal)")
    parts = [p for p in pure.parts if p != "."]
    if not parts:
        raise SourceError(f"unsafe path in the bundle listing: {raw!r} (empty)")
    return "/".join(parts)


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
            raise SourceError(f"bundle source directory not found: {self.base}")
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
            raise SourceError(f"bundle file '{entry.locator}' not found by fetch_sql (bundle '{self.bundle}')")
        dest.write_bytes(_as_bytes(rows[0][0]))

    def close(self) -> None:
        """Dispose of the engine."""
        self.connector.close()


class RestSource:
    """``rest``: ``GET <list_path>?bundle=&<prefix_param>=`` lists ``{"files": [...]}``, ``GET <fetch_path>`` a file."""

    def __init__(
        self, connector: Any, *, bundle: str, base_path: str, list_path: str, fetch_path: str, prefix_param: str
    ) -> None:
        self.connector = connector
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
        """Stream one file to ``dest``."""
        params = {"bundle": self.bundle, "path": entry.locator}
        self.connector.request("GET", self.fetch_path, params=params, output=dest, max_body_bytes=0)

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


# -- git ---------------------------------------------------------------------------------------------------------------


class GitSource:
    """``git``: ``git ls-remote`` resolves the ref to a commit; a shallow fetch of that commit is the tree."""

    def __init__(self, url: str, *, ref: str, subdir: str | None, manifest_dir: str) -> None:
        if url.startswith("-") or ref.startswith("-"):
            raise SourceError("git url and ref must not start with '-'")
        self.url = _local_git_url(url, manifest_dir)
        self.ref = ref
        self.subdir = subdir or ""
        self.commit: str | None = None

    def list_entries(self) -> list[Entry]:
        """One entry: the sub-directory and the commit (the fingerprint is commit + sub-directory)."""
        self.commit = self._resolve()
        return [Entry(rel_path=self.subdir or ".", signature=f"git:{self.commit}")]

    def _resolve(self) -> str:
        if _COMMIT.match(self.ref):
            return self.ref
        # "<ref>^{}" asks for the peeled line too: an annotated tag names a tag object, the commit is behind it
        out = self._git(["ls-remote", self.url, self.ref, f"{self.ref}^{{}}"], what=f"list {self.ref}")
        refs: dict[str, str] = {}
        for line in out.splitlines():
            sha, _, name = line.partition("\t")
            if sha and name:
                refs[name.strip()] = sha.strip()
        for name in (
            self.ref,
            f"refs/heads/{self.ref}",
            f"refs/tags/{self.ref}^{{}}",
            f"refs/tags/{self.ref}",
        ):
            if name in refs:
                return refs[name]
        raise SourceError(f"git ref '{self.ref}' not found in {safe_url(self.url)}")

    def materialize(self, workdir: Path) -> Path:
        """Shallow-fetch the commit into ``workdir`` and check it out; return the sub-directory."""
        commit = self.commit or self._resolve()
        repo = workdir / "checkout"
        repo.mkdir(parents=True, exist_ok=True)
        self._git(["init", "-q", str(repo)], what="init")
        fetch = ["-C", str(repo), "fetch", "-q", "--depth", "1", "--no-tags", self.url]
        try:
            self._git([*fetch, commit], what=f"fetch {commit}")
        except SourceError:
            # Servers that refuse fetching a commit by id still serve the ref; it must not have moved meanwhile.
            self._git([*fetch, self.ref], what=f"fetch {self.ref}")
            fetched = self._git(["-C", str(repo), "rev-parse", "FETCH_HEAD"], what="rev-parse").strip()
            if fetched != commit:
                raise SourceError(
                    f"git ref '{self.ref}' moved during the sync ({commit} -> {fetched}); sync again"
                ) from None
        self._git(["-C", str(repo), "-c", "advice.detachedHead=false", "checkout", "-q", "FETCH_HEAD"], what="checkout")
        root = repo / self.subdir if self.subdir else repo
        if not root.is_dir():
            raise SourceError(f"git sub-directory '{self.subdir}' not found at commit {commit}")
        return root

    def _git(self, args: list[str], *, what: str) -> str:
        # Never wait for a person: no terminal prompt, no askpass helper, ssh in batch mode (unless configured).
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "LC_ALL": "C"}
        env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
        argv = ["git", "-c", "protocol.ext.allow=never", *args]
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                env=env,
                timeout=GIT_TIMEOUT_SECONDS,
                check=False,
                preexec_fn=parent_death_preexec(),  # PR_SET_PDEATHSIG: a killed runner leaves no git behind
            )
        except FileNotFoundError:
            raise SourceError("the git binary is not installed (needed by the git bundle source)") from None
        except subprocess.TimeoutExpired:
            raise SourceError(f"git {what} timed out after {GIT_TIMEOUT_SECONDS:g}s ({safe_url(self.url)})") from None
        if done.returncode != 0:
            detail = " ".join(done.stderr.strip().splitlines()[-2:]) or f"exit code {done.returncode}"
            detail = detail.replace(self.url, safe_url(self.url))
            raise SourceError(f"git {what} failed for {safe_url(self.url)}: {detail}")
        return done.stdout

    def close(self) -> None:
        """Nothing to release."""


def _local_git_url(url: str, manifest_dir: str) -> str:
    if "://" in url or _SCP_LIKE.match(url) or os.path.isabs(url):
        return url
    return os.path.normpath(os.path.join(manifest_dir, url))


# -- archive -----------------------------------------------------------------------------------------------------------


class ArchiveSource:
    """``archive``: a zip or tar file (local path or http(s) URL); its sha256 is the listing, unpacking the fetch."""

    def __init__(self, location: str, *, is_url: bool, blobs: BlobStore, unzip: Callable[[Path, Path], None]) -> None:
        self.location = location
        self.is_url = is_url
        self.blobs = blobs
        self.unzip = unzip
        self.archive: Path | None = None

    def list_entries(self) -> list[Entry]:
        """One entry: the archive's name and content hash."""
        if self.is_url:
            parts = urlsplit(self.location)
            name = PurePosixPath(parts.path).name or "archive"
            if parts.scheme == "file":
                self.archive = Path(parts.path)
            elif parts.scheme in ("http", "https"):
                sha, _size = self._download()
                self.archive = self.blobs.path(sha)
                return [Entry(rel_path=name, sha256=sha)]
            else:
                raise SourceError(f"archive url must be http(s):// or file://, got {safe_url(self.location)}")
        else:
            self.archive = Path(self.location)
            name = self.archive.name
        if not self.archive.is_file():
            raise SourceError(f"bundle archive not found: {self.archive}")
        return [Entry(rel_path=name, sha256=sha256_file(self.archive)[0])]

    def _download(self) -> tuple[str, int]:
        import urllib.error
        import urllib.request

        shown = safe_url(self.location)
        try:
            with urllib.request.urlopen(self.location, timeout=HTTP_TIMEOUT_SECONDS) as response:
                return self.blobs.add_stream(response)
        except urllib.error.HTTPError as exc:
            raise SourceError(f"archive download failed: HTTP {exc.code} for GET {shown}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SourceError(f"archive download failed for GET {shown}: {reason}") from None

    def materialize(self, workdir: Path) -> Path:
        """Unpack into ``workdir/unpacked``; unsafe entries (absolute, ``..``, links, devices) refuse the archive."""
        archive = self.archive
        if archive is None:
            self.list_entries()
            archive = self.archive
        assert archive is not None
        dest = workdir / "unpacked"
        dest.mkdir(parents=True, exist_ok=True)
        if zipfile.is_zipfile(archive):
            _check_zip(archive)
            self.unzip(archive, dest)
            _restore_zip_modes(archive, dest)
        elif tarfile.is_tarfile(archive):
            _extract_tar(archive, dest)
        else:
            raise SourceError(f"bundle archive {archive.name} is neither a zip nor a tar archive")
        return dest

    def close(self) -> None:
        """Nothing to release."""


def _unsafe_name(name: str) -> str | None:
    text = name.replace("\\", "/")
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        return "absolute path"
    if ".." in text.split("/"):
        return "parent traversal"
    return None


def _check_zip(archive: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        _check_totals(archive, len(infos), sum(i.file_size for i in infos))
        for info in infos:
            reason = _unsafe_name(info.filename)
            if reason is None and stat.S_ISLNK(info.external_attr >> 16):
                reason = "symlink"
            if reason:
                raise SourceError(f"bundle archive {archive.name} refused: unsafe entry '{info.filename}' ({reason})")


def _restore_zip_modes(archive: Path, dest: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            mode = info.external_attr >> 16
            if not info.is_dir() and mode & 0o111:
                with contextlib.suppress(OSError):
                    os.chmod(dest / info.filename, 0o755)


def _extract_tar(archive: Path, dest: Path) -> None:
    with tarfile.open(archive, "r:*") as tf:
        members = tf.getmembers()
        _check_totals(archive, len(members), sum(m.size for m in members if m.isfile()))
        for member in members:
            reason = _unsafe_name(member.name)
            if reason is None and (member.issym() or member.islnk()):
                reason = "symlink" if member.issym() else "hard link"
            elif reason is None and not (member.isfile() or member.isdir()):
                reason = "special file"
            if reason:
                raise SourceError(f"bundle archive {archive.name} refused: unsafe entry '{member.name}' ({reason})")
        for member in members:
            target = dest / member.name
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tf.extractfile(member)
            if source is None:
                continue
            with source, target.open("wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
            os.chmod(target, 0o755 if member.mode & 0o111 else 0o644)


def _check_totals(archive: Path, count: int, total: int) -> None:
    if count > MAX_ARCHIVE_MEMBERS or total > MAX_ARCHIVE_BYTES:
        raise SourceError(
            f"bundle archive {archive.name} refused: {count} entries / {total} bytes unpacked exceed the limits "
            f"({MAX_ARCHIVE_MEMBERS} entries, {MAX_ARCHIVE_BYTES} bytes)"
        )


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
