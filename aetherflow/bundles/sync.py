"""``sync_bundle`` and ``bundle_status``: list the source, fingerprint, build ``staged/``, activate atomically.

See docs/reference/plugins-and-bundles.md. One sync at a time per bundle (flock). A failed sync writes
``last_error.json`` and either raises ``BundleSyncFailed`` or, with ``allow_stale`` and an active bundle, logs
``bundle_stale`` and returns the active bundle marked stale.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from aetherflow.bundles.archive_source import ArchiveSource
from aetherflow.bundles.cache import (
    BlobStore,
    BundlePaths,
    FileRecord,
    fingerprint_of,
    iso_now,
    remove_tree,
    write_json_atomic,
)
from aetherflow.bundles.download import check_pin
from aetherflow.bundles.git_source import GitSource
from aetherflow.bundles.manifest import BundleManifestInvalid, Manifest, load_manifest
from aetherflow.bundles.remote_sources import RestSource
from aetherflow.bundles.source_open import Decode, Emit, SourceOpener
from aetherflow.bundles.sources import (
    Entry,
    FileSource,
    SourceError,
    SourceRefused,
    check_rel_path,
    walk_tree,
    with_sha,
)
from aetherflow.errors import AetherFlowError, ExitCode, Issue, Permanent, error_text, is_permanent
from aetherflow.events import EventBus
from aetherflow.private import private_dir
from aetherflow.redaction import Redactor
from aetherflow.registry import Registry

__all__ = ["ActiveBundle", "BundleSourceRefused", "BundleSyncFailed", "bundle_status", "sync_bundle"]


class BundleSyncFailed(AetherFlowError):
    """The bundle could not be synced and no stale bundle was allowed (``bundle:sync_failed``); nothing ran.

    The source may answer next time (unreachable, timing out, a server error): exit 1, so the Job retries the pod.
    ``BundleSourceRefused`` is the permanent kind (exit 3). An invalid manifest is ``BundleManifestInvalid`` (exit 2).
    """

    exit_code = ExitCode.FAILED

    def __init__(self, message: str, *, bundle_id: str) -> None:
        super().__init__(message)
        self.bundle_id = bundle_id
        self.issue = Issue("bundle:sync_failed", "bundle.source", message)


class BundleSourceRefused(Permanent, BundleSyncFailed):
    """The source answered with what retrying cannot fix (authentication, not found, a checksum or pin mismatch, a
    refused redirect or download): exit 3, so the Job fails at once."""

    exit_code = ExitCode.PERMANENT


@dataclass(frozen=True)
class ActiveBundle:
    """The bundle a run uses, and what it rewires (docs/reference/plugins-and-bundles.md)."""

    manifest_path: str
    bundle_id: str
    fingerprint: str
    local_root: Path  # = active_dir: the path through the ``active`` link
    active_dir: Path
    cache_dir: Path
    fingerprints_dir: Path
    flow_path: Path | None  # active/<entry_flow>
    profiles_file: Path | None  # active/<layout.profiles_file>
    env_files: list[Any]  # the manifest's env-file specs, paths made absolute against the bundle root
    plugin_paths: list[str]  # plugin folders for the manifest's mode (see plugin_dirs)
    trusted_paths: list[str]  # paths.plugins: the only folders enterprise mode loads
    mode: str | None  # the manifest's mode (None: keep AETHERFLOW_MODE)
    zip_drivers: list[str] | None  # enterprise archive-driver allow-list (None: the default one)
    stale: bool = False
    changed: bool = False
    fetched_files: tuple[str, ...] = ()  # relative paths fetched from the source by this sync, sorted
    version_dir: Path | None = None  # the resolved versions/<fp> directory
    plugins_dir: str | None = field(default=None, repr=False)

    def plugin_dirs(self, *, enterprise: bool) -> list[str]:
        """Enterprise: ``paths.plugins`` only; otherwise ``layout.plugins_dir`` (replacing AETHERFLOW_PLUGIN_PATHS)."""
        if enterprise:
            return list(self.trusted_paths)
        return [self.plugins_dir] if self.plugins_dir else []

    def runner_env(self) -> dict[str, str]:
        """``AETHERFLOW_LOCAL_ROOT_DIR`` / ``_ACTIVE_DIR`` (= active/) and ``AETHERFLOW_CACHE_DIR`` (= cache/)."""
        return {
            "AETHERFLOW_LOCAL_ROOT_DIR": str(self.local_root),
            "AETHERFLOW_ACTIVE_DIR": str(self.active_dir),
            "AETHERFLOW_CACHE_DIR": str(self.cache_dir),
        }

    def sync_document(self) -> dict[str, Any]:
        """``bundle sync --json`` (docs/reference/cli.md), keys in order."""
        return {
            "bundle_manifest": self.manifest_path,
            "local_root": str(self.local_root),
            "active_dir": str(self.active_dir),
            "cache_dir": str(self.cache_dir),
            "fingerprints_dir": str(self.fingerprints_dir),
            "fingerprint": self.fingerprint,
            "changed": self.changed,
            "fetched_files": list(self.fetched_files),
            "fetched_count": len(self.fetched_files),
        }


def sync_bundle(
    manifest_path: str,
    *,
    work_root: str | os.PathLike[str],
    allow_stale: bool,
    registry: Registry | None = None,
    emit: Emit | None = None,
    env: Mapping[str, str] | None = None,
    redactor: Redactor | None = None,
    decode: Decode | None = None,
) -> ActiveBundle:
    """Sync the bundle of ``manifest_path`` into ``<work_root>/bundles/<id>/`` and return the active bundle.

    ``env`` is the snapshot manifest resources are rendered with (default: the process env); ``decode`` is the
    secrets hook's decode function for resources with ``decode``; ``emit(event, level=, **fields)`` receives
    ``bundle_synced`` / ``bundle_stale``. Raises ``BundleManifestInvalid`` (InputError, exit 2) for an invalid
    manifest, ``BundleSyncFailed`` (exit 1, or ``BundleSourceRefused``, exit 3, when retrying cannot help) when the
    sync fails without an allowed stale bundle.
    """
    manifest = load_manifest(manifest_path)
    paths = BundlePaths.for_bundle(work_root, manifest.bundle_id)
    redactor = redactor if redactor is not None else Redactor()
    redactor.add_value_forms(manifest.source.url)  # a git URL's password, before any error can quote the URL
    emit = emit if emit is not None else EventBus().emit
    opener = SourceOpener(
        manifest,
        registry=registry if registry is not None else Registry.builtin(),
        env=env if env is not None else dict(os.environ),
        redactor=redactor,
        decode=decode,
        emit=emit,
    )
    syncer = _Syncer(manifest, paths, opener)
    try:
        with paths.locked():
            fingerprint, changed, fetched = syncer.run()
    except BundleManifestInvalid:
        raise
    except Exception as exc:  # any failure of the source or the cache is a failed sync
        text = redactor.mask(error_text(exc))
        _record_error(paths, text)
        current = paths.active_fingerprint()
        if allow_stale and current is not None:
            emit("bundle_stale", level="WARNING", bundle_id=manifest.bundle_id, fingerprint=current, error=text)
            return _active(manifest_path, manifest, paths, current, stale=True)
        where = f"'{manifest.bundle_id}' ({manifest.source.type} source)"
        hint = "" if current is None or allow_stale else "; --allow-stale-bundle would run the last synced bundle"
        failed = BundleSourceRefused if is_permanent(exc) else BundleSyncFailed
        raise failed(f"Bundle sync failed for {where}: {text}{hint}", bundle_id=manifest.bundle_id) from exc
    emit(
        "bundle_synced",
        bundle_id=manifest.bundle_id,
        fingerprint=fingerprint,
        changed=changed,
        fetched_count=len(fetched),
    )
    return _active(manifest_path, manifest, paths, fingerprint, changed=changed, fetched=fetched)


def bundle_status(manifest_path: str, *, work_root: str | os.PathLike[str]) -> dict[str, Any]:
    """``bundle status --json`` (docs/reference/cli.md): where the bundle lives and what is active; never fetches."""
    manifest = load_manifest(manifest_path)
    paths = BundlePaths.for_bundle(work_root, manifest.bundle_id)
    has_active = paths.has_active()
    fingerprint = paths.active_fingerprint() if has_active else paths.latest_fingerprint()
    return {
        "bundle_manifest": manifest_path,
        "bundle_id": manifest.bundle_id,
        "work_root": str(paths.work_root),
        "bundle_root": str(paths.root),
        "active_dir": str(paths.active),
        "cache_dir": str(paths.cache),
        "fingerprints_dir": str(paths.fingerprints),
        "fingerprint": fingerprint,
        "has_active": has_active,
    }


def _record_error(paths: BundlePaths, text: str) -> None:
    try:
        private_dir(paths.root, under=paths.work_root)
        write_json_atomic(paths.last_error, {"error": text, "at": iso_now()})
    except OSError:
        pass  # the cache itself may be what failed; the error is raised or logged anyway


def _active(
    manifest_path: str,
    manifest: Manifest,
    paths: BundlePaths,
    fingerprint: str,
    *,
    stale: bool = False,
    changed: bool = False,
    fetched: tuple[str, ...] = (),
) -> ActiveBundle:
    active = paths.active
    # Only folders the synced bundle has: most sources cannot carry an empty directory, and a bundle without
    # plugins must not fail the run with "plugin path does not exist".
    trusted = [str(active / p) for p in manifest.plugin_paths if (active / p).is_dir()]
    layout_dir = manifest.layout.plugins_dir
    plugins_dir = str(active / layout_dir) if layout_dir and (active / layout_dir).is_dir() else None
    enterprise = manifest.mode == "enterprise"
    return ActiveBundle(
        manifest_path=manifest_path,
        bundle_id=manifest.bundle_id,
        fingerprint=fingerprint,
        local_root=active,
        active_dir=active,
        cache_dir=paths.cache,
        fingerprints_dir=paths.fingerprints,
        flow_path=active / manifest.entry_flow,
        profiles_file=active / manifest.layout.profiles_file,
        env_files=[_absolute_env_file(item, active) for item in manifest.env_files],
        plugin_paths=trusted if enterprise else ([plugins_dir] if plugins_dir else []),
        trusted_paths=trusted,
        mode=manifest.mode,
        zip_drivers=list(manifest.zip_drivers) if manifest.zip_drivers is not None else None,
        stale=stale,
        changed=changed,
        fetched_files=fetched,
        version_dir=paths.versions / fingerprint,
        plugins_dir=plugins_dir,
    )


def _absolute_env_file(item: Any, root: Path) -> Any:
    if isinstance(item, str):
        return item if os.path.isabs(item) else str(root / item)
    if isinstance(item, Mapping) and isinstance(item.get("path"), str) and not os.path.isabs(item["path"]):
        return {**item, "path": str(root / item["path"])}
    return item


class _Syncer:
    def __init__(self, manifest: Manifest, paths: BundlePaths, opener: SourceOpener) -> None:
        self.manifest = manifest
        self.paths = paths
        self.opener = opener
        self.blobs = BlobStore(paths.cache)
        self.fetched: set[str] = set()

    # -- the sync --------------------------------------------------------------------------------------------------
    def run(self) -> tuple[str, bool, tuple[str, ...]]:
        """(fingerprint, changed, fetched relative paths); the build areas are removed whatever happens."""
        try:
            fingerprint, changed = self._run()
            return fingerprint, changed, tuple(sorted(self.fetched))
        finally:
            for scratch in (self.paths.staged, self.paths.work):
                with contextlib.suppress(OSError):
                    remove_tree(scratch)

    def _run(self) -> tuple[str, bool]:
        self.paths.prepare()
        strict = self.manifest.source.strict_fingerprint
        previous_fp = self.paths.latest_fingerprint()
        previous = _snapshot_files(self.paths.snapshot(previous_fp))
        source = self.opener.open(self.blobs)
        try:
            entries = self._listing(source)
            if isinstance(source, GitSource | ArchiveSource):
                fingerprint = fingerprint_of((e.rel_path, e.fingerprint_signature(strict=strict)) for e in entries)
                if self._unchanged(fingerprint, previous_fp):
                    return fingerprint, False
                records = self._ingest_tree(source)
            else:
                if strict:
                    entries = [e if e.sha256 else self._hash(source, e, previous) for e in entries]
                fingerprint = fingerprint_of((e.rel_path, e.fingerprint_signature(strict=strict)) for e in entries)
                if isinstance(source, RestSource):
                    what = f"the fingerprint of bundle '{self.manifest.bundle_id}'"
                    check_pin(fingerprint, self.manifest.source.sha256, what)
                if self._unchanged(fingerprint, previous_fp):
                    return fingerprint, False
                records = [self._record(source, e, previous) for e in entries]
        finally:
            source.close()
        self._stage(records)
        previous_active = self.paths.activate(self.paths.staged, fingerprint)
        self.paths.write_snapshot(fingerprint, self._snapshot(fingerprint, records))
        if previous_active != fingerprint:  # a rebuild of the active version (fetch_policy: always) keeps both
            self.paths.prune({fingerprint, *([previous_active] if previous_active else [])})
        return fingerprint, True

    def _unchanged(self, fingerprint: str, previous_fp: str | None) -> bool:
        """``cache_check``: the source still has what is active (``always`` rebuilds every time)."""
        return (
            self.manifest.fetch_policy == "cache_check"
            and fingerprint == previous_fp
            and self.paths.active_fingerprint() == fingerprint
        )

    def _listing(self, source: FileSource | GitSource | ArchiveSource) -> list[Entry]:
        seen: dict[str, Entry] = {}
        for entry in source.list_entries():
            if not entry.rel_path:
                continue
            rel = entry.rel_path if entry.signature else check_rel_path(entry.rel_path)
            if rel in seen:
                raise SourceRefused(f"bundle listing has '{rel}' twice")
            seen[rel] = entry if rel == entry.rel_path else replace(entry, rel_path=rel)
        return sorted(seen.values(), key=lambda e: e.rel_path)

    def _hash(self, source: FileSource, entry: Entry, previous: Mapping[str, Mapping[str, Any]]) -> Entry:
        """The entry with its sha256: reused from the previous snapshot when size and mtime match, else fetched."""
        known = _reusable(entry, previous.get(entry.rel_path), self.blobs)
        if known is not None:
            return with_sha(entry, known, entry.size or 0)
        sha, size = self._fetch(source, entry)
        return with_sha(entry, sha, size)

    def _record(self, source: FileSource, entry: Entry, previous: Mapping[str, Mapping[str, Any]]) -> FileRecord:
        sha = entry.sha256.lower() if entry.sha256 else None
        if sha is None or not self.blobs.has(sha):
            reused = None if sha else _reusable(entry, previous.get(entry.rel_path), self.blobs)
            if reused is not None:
                sha = reused
            else:
                sha, _size = self._fetch(source, entry)
        size = self.blobs.path(sha).stat().st_size
        return FileRecord(entry.rel_path, sha, size, entry.mtime, entry.executable)

    def _fetch(self, source: FileSource, entry: Entry) -> tuple[str, int]:
        tmp = self.blobs.temp_path()
        try:
            source.fetch(entry, tmp)
        except FileNotFoundError as exc:
            raise SourceError(f"bundle file '{entry.rel_path}' vanished during the sync: {exc}") from None
        result = self.blobs.add(tmp, expect_sha256=entry.sha256, what=f"'{entry.rel_path}'")
        self.fetched.add(entry.rel_path)
        return result

    def _ingest_tree(self, source: GitSource | ArchiveSource) -> list[FileRecord]:
        root = source.materialize(self.paths.work)
        records: list[FileRecord] = []
        for rel, path, executable in walk_tree(root):
            with path.open("rb") as handle:
                sha, size = self.blobs.add_stream(handle)
            records.append(FileRecord(rel, sha, size, None, executable))
            self.fetched.add(rel)
        return records

    def _stage(self, records: list[FileRecord]) -> None:
        staged = self.paths.staged
        private_dir(staged)
        for record in records:
            self.blobs.place(record, staged)
        layout = self.manifest.layout
        for label, rel in (("entry_flow", self.manifest.entry_flow), ("layout.profiles_file", layout.profiles_file)):
            if not (staged / rel).is_file():
                raise SourceRefused(f"bundle {label} '{rel}' is not in the synced bundle ({len(records)} files)")

    def _snapshot(self, fingerprint: str, records: list[FileRecord]) -> dict[str, Any]:
        source = self.manifest.source
        base = source.url if source.type in ("git", "archive") and source.url else source.base_path
        return {
            "version": 1,
            "bundle_id": self.manifest.bundle_id,
            "fingerprint": fingerprint,
            "created_at": iso_now(),
            "source": {"type": source.type, "base_path": base},
            "files": [r.as_dict() for r in records],
        }


def _snapshot_files(snapshot: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    files = (snapshot or {}).get("files") or []
    return {str(f["path"]): f for f in files if isinstance(f, Mapping) and f.get("path") and f.get("sha256")}


def _reusable(entry: Entry, old: Mapping[str, Any] | None, blobs: BlobStore) -> str | None:
    """The previous snapshot's hash of this path when size and mtime are known and unchanged and the blob exists."""
    if old is None or entry.size is None or not entry.mtime:
        return None
    if old.get("size") != entry.size or old.get("mtime") != entry.mtime:
        return None
    sha = str(old.get("sha256"))
    return sha if blobs.has(sha) else None
