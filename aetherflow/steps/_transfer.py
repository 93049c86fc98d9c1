"""Helpers shared by the file-transfer steps (SFTP, SMB, S3): input errors, one-or-many inputs, the listing gate, the
per-item upload manifest, a bounded worker pool with fail-fast, the download destination check and loop, and the
expansion of local input paths (files, directories, globs).

Only the standard library and ``aetherflow.api``: steps stay plugins.
"""

from __future__ import annotations

import glob
import json
import os
import posixpath
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ALL_COMPLETED, FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from aetherflow.api import (
    ArchiveRefused,
    CancelToken,
    Interrupted,
    InvalidValue,
    StepContext,
    StepFailed,
    StepResult,
    check_cancelled,
    safe_join,
)

T = TypeVar("T")
R = TypeVar("R")


_GLOB_CHARS = frozenset("*?[")


class RemoteFilesConnector(Protocol):
    """What the remote-file steps use of their connector (``sftp``, ``smb``)."""

    def list_files(
        self,
        remote_dir: str,
        *,
        pattern: str = "*",
        recursive: bool = False,
        min_age_seconds: float = 0.0,
        cancelled: CancelToken | None = None,
    ) -> list[dict[str, Any]]: ...

    def download(
        self,
        remote_path: str,
        local_path: Path,
        *,
        cancelled: CancelToken | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> int: ...

    def upload(
        self,
        local_path: Path,
        remote_path: str,
        *,
        cancelled: CancelToken | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> int: ...

    def delete(self, remote_path: str) -> None: ...


def remote_path_of(step_type: str, entry: str | Mapping[str, Any]) -> str:
    """The remote path of a file entry: the string itself, or the mapping's ``path``."""
    if isinstance(entry, str):
        return entry
    path = entry.get("path")
    if not isinstance(path, str) or not path:
        raise input_error(f"{step_type} file entries need a 'path' (got keys {sorted(entry)})")
    return path


def expand_local_files(
    ctx: StepContext, step_type: str, raw_paths: Sequence[str], *, what: str = "file", recursive: bool = False
) -> list[Path]:
    """The local files named by paths, directories (their files) and globs, in order, once each.

    A plain path that does not exist fails (permanent), naming it; a directory with no file or a glob that matches
    nothing adds nothing, so the caller can skip with ``no_files``. Every result is sandbox-checked.
    """
    found: dict[Path, None] = {}
    for raw in raw_paths:
        for file in local_matches(ctx, step_type, raw, what=what, recursive=recursive):
            found.setdefault(file, None)
    return list(found)


def local_matches(
    ctx: StepContext,
    step_type: str,
    raw: str,
    *,
    what: str = "file",
    is_glob: bool | None = None,
    recursive: bool = False,
) -> list[Path]:
    """The files one input names: a glob's matches, a directory's files (all levels with ``recursive``), or the
    file itself; sorted, each sandbox-checked. A plain path that does not exist fails (permanent), naming it.

    ``is_glob`` None decides by the glob characters ``*?[`` in ``raw``, unless a file or directory has that very name
    (``report[1].csv`` would otherwise match only ``report1.csv``, and the step would skip silently).
    """
    if is_glob is None:
        is_glob = any(c in raw for c in _GLOB_CHARS) and not ctx.resolve_path(raw).exists()
    if is_glob:
        matches = [Path(m) for m in sorted(glob.glob(str(ctx.resolve_path(raw)), recursive=True))]
    else:
        path = ctx.resolve_path(raw)
        if not path.exists():
            raise input_error(f"{step_type} {what} not found: {path}")
        matches = [path]
    files: list[Path] = []
    for match in matches:
        if match.is_dir():
            files.extend(_directory_files(match, recursive))
        elif match.is_file():
            files.append(match)
        else:
            raise input_error(f"{step_type} input is not a regular file: {match}")
    # Again through the sandbox: a glob or a directory may reach a symlink.
    return [ctx.resolve_path(file) for file in files]


def _directory_files(directory: Path, recursive: bool) -> list[Path]:
    if not recursive:
        return sorted(p for p in directory.iterdir() if p.is_file())
    found: list[Path] = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        found.extend(Path(root) / f for f in sorted(files))
    return found


def single_input_file(ctx: StepContext, step_type: str, what: str, raw: str) -> Path:
    """One input file (no globs): sandbox-checked; a path that does not exist or a directory fails (permanent)."""
    path = ctx.resolve_path(raw)
    if path.is_dir():
        raise input_error(f"{step_type} {what} is a directory, not a file: {path}")
    if not path.is_file():
        raise input_error(f"{step_type} {what} not found: {path}")
    return path


def no_files(**outputs: Any) -> StepResult:
    """The result of a file step whose inputs named no file (an empty directory, a glob matching nothing)."""
    return StepResult.skipped("no_files", count=0, **outputs)


def input_error(message: str) -> ValueError:
    """A ``ValueError`` for a bad input or path: retrying cannot fix it, so the runner must not retry it."""
    return InvalidValue(message)


def as_list(value: Any) -> Any:
    """A single entry given where a list is expected becomes a one-item list (a ``mode="before"`` validator)."""
    return [value] if isinstance(value, (str, Mapping)) else value


def elapsed_ms(started: float) -> int:
    """Milliseconds since ``started`` (a ``time.monotonic()`` reading), for the ``duration_ms`` of events."""
    return round((time.monotonic() - started) * 1000)


def listing_result(files: list[dict[str, Any]], min_count: int) -> StepResult:
    """The outputs of a list step: SKIPPED (no files) when fewer than ``min_count`` entries matched."""
    count = len(files)
    if count < min_count:
        reason = f"count({count}) < min_count({min_count})"
        return StepResult.skipped(reason, has_data=False, count=count, files=[])
    return StepResult.success(has_data=True, count=count, files=files)


class Parallelism(BaseModel):
    """``parallelism`` of upload steps: how many items are transferred at once, and whether one failure stops all."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    workers: int = Field(8, ge=1, le=64)
    fail_fast: bool = True


def safe_destination(dest_dir: Path, rel_path: str) -> Path:
    """``dest_dir/rel_path``, refusing any ``rel_path`` that would leave (or be) ``dest_dir`` (the one path-safety
    check every extraction uses)."""
    try:
        target = safe_join(dest_dir, rel_path)
    except ArchiveRefused:
        raise input_error(f"dest path escapes dest_dir: {rel_path}") from None
    if target == Path(os.path.normpath(dest_dir)):
        raise input_error(f"dest path escapes dest_dir: {rel_path}")
    return target


def download_target(ctx: StepContext, dest_dir: Path, entry: str | Mapping[str, Any], remote_name: str) -> Path:
    """Where a download entry goes: ``dest_dir/<rel_path>``, where a string entry's ``rel_path`` is the base name.

    The sandbox check too: no symlink between the artifacts dir and the target.
    """
    rel = entry.get("rel_path") if isinstance(entry, Mapping) else None
    rel_path = rel if isinstance(rel, str) and rel else posixpath.basename(remote_name.rstrip("/"))
    return ctx.resolve_path(safe_destination(dest_dir, rel_path))


def download_each(
    ctx: StepContext,
    step_type: str,
    event: str,
    plan: Sequence[tuple[T, Path]],
    fetch: Callable[[T, Path, Callable[[int], None]], int],
    describe: Callable[[T], Mapping[str, Any]],
    *,
    total: int | None = None,
) -> list[str]:
    """Download every ``(source, target)`` of ``plan`` in order with ``fetch(source, target, progress)``, checking for
    a stop between files; ``progress`` takes the file's running byte count (``step_progress`` of the whole step, of
    ``total`` bytes when known).

    Each file emits a DEBUG ``event`` with ``describe(source)``, ``local_path``, ``bytes`` and ``duration_ms``.
    Returns the local paths.
    """
    meter = ctx.progress("bytes", total=total)
    local_files: list[str] = []
    for source, target in plan:
        check_cancelled(ctx.cancelled, step_type)
        started = time.monotonic()
        size = fetch(source, target, meter.part())
        ctx.emit(
            event,
            level="DEBUG",
            **describe(source),
            local_path=str(target),
            bytes=size,
            duration_ms=elapsed_ms(started),
        )
        local_files.append(str(target))
    return local_files


def listed_size(entries: Sequence[str | Mapping[str, Any]]) -> int | None:
    """The bytes a download will fetch when every entry is a listing entry with its ``size``, else None (unknown)."""
    total = 0
    for entry in entries:
        size = entry.get("size") if isinstance(entry, Mapping) else None
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            return None
        total += size
    return total


def local_size(files: Sequence[Path]) -> int | None:
    """The bytes an upload of ``files`` will send (None when a file cannot be read now: the upload reports why)."""
    try:
        return sum(file.stat().st_size for file in files)
    except OSError:
        return None


class UploadManifest:
    """``<manifests>/<step_id>.manifest.json``: one entry per item, rewritten atomically after each item.

    Ids recorded by an earlier attempt of the same step (a retry, or a resumed run) are reported done, so they are
    skipped. Entries keep the order of the step's items.
    """

    def __init__(self, ctx: StepContext, ids: Sequence[str]) -> None:
        self.path = ctx.manifests_dir / f"{ctx.step_id}.manifest.json"
        self._lock = threading.Lock()
        self._done: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            try:
                previous = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                previous = None
                ctx.emit("upload_manifest_unreadable", level="WARNING", path=str(self.path))
            if isinstance(previous, list):
                for entry in previous:
                    if isinstance(entry, Mapping) and isinstance(entry.get("id"), str):
                        self._done[entry["id"]] = dict(entry)
        # Entries of earlier attempts stay until this attempt records the item again, so a failure now
        # cannot make the next attempt forget what is already done.
        self._entries: dict[int, dict[str, Any]] = {
            index: self._done[item_id] for index, item_id in enumerate(ids) if item_id in self._done
        }

    def previous(self, item_id: str) -> dict[str, Any] | None:
        """The entry an earlier attempt recorded for ``item_id``, or None."""
        return self._done.get(item_id)

    def record(self, index: int, entry: Mapping[str, Any]) -> None:
        """Add the entry of item ``index`` and rewrite the file (``.tmp`` then rename)."""
        with self._lock:
            self._entries[index] = dict(entry)
            self._write_locked()

    def save(self) -> None:
        """Rewrite the file with the entries recorded so far."""
        with self._lock:
            self._write_locked()

    def _write_locked(self) -> None:
        body = json.dumps([self._entries[i] for i in sorted(self._entries)], ensure_ascii=False, indent=2)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(body + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


def check_unique_ids(step_type: str, ids: Sequence[str]) -> None:
    """Ids key the manifest, so two items with one id would make a retry skip the second."""
    seen: set[str] = set()
    for item_id in ids:
        if item_id in seen:
            raise input_error(f"{step_type} duplicate item id: {item_id}")
        seen.add(item_id)


def run_items(
    items: Sequence[T],
    work: Callable[[int, T], R],
    *,
    parallelism: Parallelism,
    cancelled: CancelToken,
    on_error: Callable[[int, BaseException], None] | None = None,
) -> list[R]:
    """Run ``work(index, item)`` for every item, on up to ``workers`` threads; results keep the items' order.

    With ``fail_fast``, the first failure stops items that have not started and is raised once running ones end.
    Without it every item is tried; then a stop request wins, else a permanent failure (retrying will not help),
    else the first failure.
    """
    if not parallelism.enabled or parallelism.workers == 1 or len(items) <= 1:
        results: list[R] = []
        failures: list[BaseException] = []
        for index, item in enumerate(items):
            try:
                results.append(work(index, item))
            except Exception as exc:
                if on_error is not None:
                    on_error(index, exc)
                if parallelism.fail_fast or isinstance(exc, Interrupted):
                    raise
                failures.append(exc)
        if failures:
            raise _most_severe(failures)
        return results

    stop = threading.Event()

    def guarded(index: int, item: T) -> R:
        if stop.is_set() or cancelled.is_set():
            raise _NotStarted()
        try:
            return work(index, item)
        except Exception as exc:
            if on_error is not None:
                on_error(index, exc)
            if parallelism.fail_fast or isinstance(exc, Interrupted):
                stop.set()
            raise

    with ThreadPoolExecutor(max_workers=min(parallelism.workers, len(items))) as pool:
        futures: list[Future[R]] = [pool.submit(guarded, i, item) for i, item in enumerate(items)]
        wait(futures, return_when=FIRST_EXCEPTION if parallelism.fail_fast else ALL_COMPLETED)
        if stop.is_set():
            for future in futures:
                future.cancel()
        wait(futures)
    errors = [f.exception() for f in futures if not f.cancelled() and f.exception() is not None]
    real = [e for e in errors if e is not None and not isinstance(e, _NotStarted)]
    if real:
        raise _most_severe(real)
    if errors or cancelled.is_set():
        raise Interrupted("transfer stopped: the step was cancelled")
    return [f.result() for f in futures]


class _NotStarted(Exception):
    """An item skipped because the transfer was stopping."""


def _most_severe(errors: Sequence[BaseException]) -> BaseException:
    for error in errors:
        if isinstance(error, Interrupted):
            return error
    for error in errors:
        if not (isinstance(error, StepFailed) and error.transient):
            return error
    return errors[0]
