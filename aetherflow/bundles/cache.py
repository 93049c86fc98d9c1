"""The bundle cache under ``<work_root>/bundles/<bundle id>/``: fingerprints, content-addressed blobs, activation.

docs/reference/plugins-and-bundles.md::

    active -> versions/<fp>      symbolic link to the activated bundle (swapped atomically with os.replace)
    versions/<fp>/               activated trees (the current one and the previous one are kept)
    cache/<sha256>               content-addressed blobs
    fingerprints/latest.json     {"fingerprint", "snapshot", "updated_at"}
    fingerprints/<fp>.json       the snapshot: bundle id, fingerprint, source, files [{path, sha256, size, mtime}]
    staged/                      the tree being built (never read by runs)
    last_error.json              {"error", "at"} of the last failed sync
    .lock                        flock serialising syncs of this bundle

A killed sync leaves at most ``staged/``, ``work/``, ``active.tmp`` and ``cache/.tmp-*`` behind; the next sync
removes them. Nothing a run reads changes until the link swap, which is one ``rename(2)``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from aetherflow.api import safe_join
from aetherflow.private import private_dir

__all__ = [
    "BlobStore",
    "BundlePaths",
    "FileRecord",
    "fingerprint_of",
    "iso_now",
    "sha256_file",
    "write_json_atomic",
]

_CHUNK = 1 << 20


def iso_now() -> str:
    """UTC RFC 3339 with milliseconds and ``Z`` (the state store's timestamp format)."""
    now = time.time()
    ms = round(now * 1000)
    secs, rem = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{rem:03d}Z"


def fingerprint_of(pairs: Iterable[tuple[str, str]]) -> str:
    """sha256 hex of the compact UTF-8 JSON of ``[rel_path, signature]`` pairs sorted by path."""
    ordered = sorted(([p, s] for p, s in pairs), key=lambda pair: pair[0])
    text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_file(path: Path) -> tuple[str, int]:
    """(sha256 hex, size) of a file's content."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temp file and a rename (readers never see half a file)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``; None when missing or unreadable (a damaged cache file is rebuilt, not fatal)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def fsync_dir(path: Path) -> None:
    """Make a rename or link swap inside ``path`` durable (best effort on filesystems that refuse)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_tree(path: Path) -> None:
    """Delete a file, link or directory tree if it exists."""
    if path.is_symlink() or path.is_file():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    elif path.exists():
        shutil.rmtree(path)


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One file of an activated bundle, as the snapshot records it."""

    path: str
    sha256: str
    size: int
    mtime: float | None = None
    executable: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The snapshot form ``{path, sha256, size, mtime}``."""
        return {"path": self.path, "sha256": self.sha256, "size": self.size, "mtime": self.mtime}


@dataclass(frozen=True, slots=True)
class BundlePaths:
    """Where one bundle's cache lives."""

    work_root: Path
    root: Path

    @classmethod
    def for_bundle(cls, work_root: str | os.PathLike[str], bundle_id: str) -> BundlePaths:
        """The paths of ``bundle_id`` under ``work_root`` (absolute; nothing is created)."""
        base = Path(os.path.abspath(os.path.expanduser(os.fspath(work_root))))
        return cls(base, base / "bundles" / bundle_id)

    @property
    def active(self) -> Path:
        """The link runs read through."""
        return self.root / "active"

    @property
    def versions(self) -> Path:
        """Activated trees, one per fingerprint."""
        return self.root / "versions"

    @property
    def cache(self) -> Path:
        """Content-addressed blobs."""
        return self.root / "cache"

    @property
    def fingerprints(self) -> Path:
        """Snapshots and ``latest.json``."""
        return self.root / "fingerprints"

    @property
    def staged(self) -> Path:
        """The tree being built."""
        return self.root / "staged"

    @property
    def work(self) -> Path:
        """Scratch space of tree sources (git checkouts, unpacked archives)."""
        return self.root / "work"

    @property
    def last_error(self) -> Path:
        """``{"error", "at"}`` of the last failed sync."""
        return self.root / "last_error.json"

    def has_active(self) -> bool:
        """True when ``active`` resolves to a directory."""
        return self.active.is_dir()

    def active_fingerprint(self) -> str | None:
        """The fingerprint ``active`` points at (the link target's name), None without an active bundle."""
        if not self.has_active():
            return None
        if self.active.is_symlink():
            return Path(os.readlink(self.active)).name
        return self.latest_fingerprint()

    def latest(self) -> dict[str, Any] | None:
        """``fingerprints/latest.json``."""
        return read_json(self.fingerprints / "latest.json")

    def latest_fingerprint(self) -> str | None:
        """The fingerprint ``latest.json`` names."""
        latest = self.latest()
        value = latest.get("fingerprint") if latest else None
        return str(value) if value else None

    def snapshot(self, fingerprint: str | None) -> dict[str, Any] | None:
        """``fingerprints/<fp>.json``."""
        return read_json(self.fingerprints / f"{fingerprint}.json") if fingerprint else None

    def prepare(self) -> None:
        """Create the directories and remove what an interrupted sync left behind."""
        private_dir(self.root, under=self.work_root)
        for path in (self.versions, self.cache, self.fingerprints):
            private_dir(path)
        for leftover in (self.staged, self.work, self.root / "active.tmp"):
            remove_tree(leftover)
        for tmp in self.cache.glob(".tmp-*"):
            remove_tree(tmp)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the bundle's flock (concurrent syncs of one bundle run one after the other)."""
        private_dir(self.root, under=self.work_root)
        with open(self.root / ".lock", "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    # -- activation ------------------------------------------------------------------------------------------------
    def activate(self, staged: Path, fingerprint: str) -> str | None:
        """Move ``staged`` to ``versions/<fp>`` and swap ``active`` onto it; return the previously active fp."""
        previous = self.active_fingerprint()
        target = self.versions / fingerprint
        if previous == fingerprint and target.is_dir():
            remove_tree(staged)  # already the active tree: the link stays as it is
            return previous
        remove_tree(target)  # an inactive leftover of the same fingerprint
        os.rename(staged, target)
        fsync_dir(self.versions)
        link = self.root / "active.tmp"
        remove_tree(link)
        os.symlink(os.path.join("versions", fingerprint), link)
        aside: Path | None = None
        if self.active.exists() and not self.active.is_symlink():
            # A plain directory cannot be replaced by a link in one step; move it aside first.
            aside = self.root / f".active-old-{uuid.uuid4().hex[:8]}"
            os.rename(self.active, aside)
        os.replace(link, self.active)
        fsync_dir(self.root)
        if aside is not None:
            remove_tree(aside)
        return previous

    def write_snapshot(self, fingerprint: str, snapshot: Mapping[str, Any]) -> None:
        """Write ``fingerprints/<fp>.json`` then ``latest.json``."""
        name = f"{fingerprint}.json"
        write_json_atomic(self.fingerprints / name, dict(snapshot))
        write_json_atomic(
            self.fingerprints / "latest.json", {"fingerprint": fingerprint, "snapshot": name, "updated_at": iso_now()}
        )

    def prune(self, keep: set[str]) -> None:
        """Delete versions and snapshots other than ``keep``, and blobs no kept snapshot references."""
        for entry in self.versions.iterdir():
            if entry.name not in keep:
                remove_tree(entry)
        referenced: set[str] = set()
        for snap in self.fingerprints.glob("*.json"):
            if snap.name == "latest.json":
                continue
            if snap.stem not in keep:
                remove_tree(snap)
                continue
            data = read_json(snap) or {}
            referenced.update(str(f.get("sha256")) for f in data.get("files") or [] if isinstance(f, dict))
        for blob in self.cache.iterdir():
            if blob.name not in referenced and not blob.name.startswith("."):
                remove_tree(blob)


class BlobStore:
    """``cache/<sha256>``: each file content stored once, written to a temp name and renamed into place."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, sha256: str) -> Path:
        """Where the blob of ``sha256`` lives."""
        return self.directory / sha256

    def has(self, sha256: str | None) -> bool:
        """True when the blob exists."""
        return bool(sha256) and self.path(str(sha256)).is_file()

    def temp_path(self) -> Path:
        """A fresh temp name inside the cache (same filesystem, so the final rename is atomic)."""
        return self.directory / f".tmp-{uuid.uuid4().hex}"

    def add(self, tmp: Path, *, expect_sha256: str | None = None, what: str = "") -> tuple[str, int]:
        """Move the file ``tmp`` into the store; return (sha256, size). A listed hash that differs is an error."""
        stored = False
        try:
            digest = hashlib.sha256()
            size = 0
            with tmp.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                os.fsync(handle.fileno())  # a blob is trusted by later syncs: it must survive a node crash
            sha = digest.hexdigest()
            if expect_sha256 and sha != expect_sha256.lower():
                raise ValueError(
                    f"content of {what or tmp.name} does not match the listed sha256 "
                    f"(listed {expect_sha256.lower()}, got {sha}); the source changed during the sync or is corrupt"
                )
            target = self.path(sha)
            if not target.exists():
                os.replace(tmp, target)
                stored = True
            return sha, size
        finally:
            if not stored:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()

    def add_stream(self, source: BinaryIO) -> tuple[str, int]:
        """Copy a readable stream into the store."""
        tmp = self.temp_path()
        with tmp.open("wb") as out:
            shutil.copyfileobj(source, out, _CHUNK)
        return self.add(tmp)

    def place(self, record: FileRecord, root: Path) -> None:
        """Copy a blob to ``root/<record.path>`` (a copy: a step editing a bundle file never alters the cache)."""
        target = safe_join(root, record.path)  # listed paths were checked; a damaged snapshot must not escape either
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self.path(record.sha256).open("rb") as source, target.open("xb") as out:
                shutil.copyfileobj(source, out, _CHUNK)
                os.fchmod(out.fileno(), 0o755 if record.executable else 0o644)
                out.flush()
                os.fsync(out.fileno())  # the link swap must never point at a tree a node crash could leave empty
        except (IsADirectoryError, NotADirectoryError, FileExistsError):
            raise ValueError(f"bundle path conflict at '{record.path}' (a file and a directory share it)") from None
        if record.mtime:
            with contextlib.suppress(OSError, OverflowError, ValueError):
                os.utime(target, (record.mtime, record.mtime))
