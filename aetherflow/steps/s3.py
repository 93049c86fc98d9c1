"""S3 steps (kind ``s3``, connector ``s3:boto3``): list, download, upload (manifest, parallel, overwrite) and delete.

Object entries are ``{bucket, key, rel_path, name, size, mtime, etag, path}``; ``bucket`` inputs default to the
resource's ``config.bucket``. Local paths go through the sandbox; remote keys do not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aetherflow.api import CancelToken, Inputs, Step, StepContext, StepResult, check_cancelled
from aetherflow.steps._transfer import (
    Parallelism,
    UploadManifest,
    as_list,
    check_unique_ids,
    download_each,
    download_target,
    elapsed_ms,
    input_error,
    listed_size,
    listing_result,
    local_matches,
    local_size,
    no_files,
    run_items,
)


class S3ConnectorLike(Protocol):
    """What these steps use of an ``s3`` connector."""

    def bucket(self, bucket: str | None) -> str: ...

    def list_objects(
        self, bucket: str, *, prefix: str = "", pattern: str = "*", recursive: bool = True
    ) -> list[dict[str, Any]]: ...

    def exists(self, bucket: str, key: str) -> bool: ...

    def download(
        self,
        bucket: str,
        key: str,
        local_path: Path,
        *,
        cancelled: CancelToken | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> int: ...

    def upload(
        self,
        local_path: Path,
        bucket: str,
        key: str,
        *,
        content_type: str | None = None,
        cancelled: CancelToken | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> dict[str, Any]: ...

    def delete(self, bucket: str, keys: Iterable[str]) -> int: ...


def _connector(ctx: StepContext, resource: str) -> S3ConnectorLike:
    connector: S3ConnectorLike = ctx.connector(resource, kind="s3")
    return connector


def _key_of(step_type: str, entry: str | Mapping[str, Any]) -> tuple[str | None, str]:
    """(bucket given by the entry or None, key) of an object entry or key string."""
    if isinstance(entry, str):
        return None, entry
    key = entry.get("key")
    if not isinstance(key, str) or not key:
        raise input_error(f"{step_type} object entries need a 'key' (got keys {sorted(entry)})")
    bucket = entry.get("bucket")
    return (bucket if isinstance(bucket, str) and bucket else None), key


# -- s3_list_files ---------------------------------------------------------------------------------------------------
class S3ListInputs(Inputs):
    """Inputs of ``s3_list_files``."""

    resource: str
    bucket: str | None = None
    prefix: str = ""
    pattern: str = "*"
    recursive: bool = True
    min_count: int = Field(1, ge=0)


class S3ListFiles(Step[S3ListInputs]):
    """List objects under a prefix; SKIPPED when fewer than ``min_count`` match."""

    inputs_model = S3ListInputs
    result_keys = frozenset({"has_data", "count", "files", "reason"})
    resource_kind: ClassVar[str | None] = "s3"

    def run(self, inputs: S3ListInputs, ctx: StepContext) -> StepResult:
        s3 = _connector(ctx, inputs.resource)
        files = s3.list_objects(
            s3.bucket(inputs.bucket), prefix=inputs.prefix, pattern=inputs.pattern, recursive=inputs.recursive
        )
        return listing_result(files, inputs.min_count)


# -- s3_download_files -----------------------------------------------------------------------------------------------
class S3DownloadInputs(Inputs):
    """Inputs of ``s3_download_files``: entries from ``s3_list_files`` or keys."""

    resource: str
    files: list[str | dict[str, Any]]
    dest_dir: str
    bucket: str | None = None

    _one_or_many = field_validator("files", mode="before")(as_list)


class S3DownloadFiles(Step[S3DownloadInputs]):
    """Download objects to ``dest_dir/<rel_path>`` (a key string's ``rel_path`` is its base name)."""

    inputs_model = S3DownloadInputs
    result_keys = frozenset({"local_files", "dest_dir"})
    resource_kind: ClassVar[str | None] = "s3"

    def run(self, inputs: S3DownloadInputs, ctx: StepContext) -> StepResult:
        dest_dir = ctx.resolve_path(inputs.dest_dir)
        s3 = _connector(ctx, inputs.resource)
        plan: list[tuple[tuple[str, str], Path]] = []  # ((bucket, key), local target)
        for entry in inputs.files:
            entry_bucket, key = _key_of("s3_download_files", entry)
            target = download_target(ctx, dest_dir, entry, key)
            plan.append(((entry_bucket or s3.bucket(inputs.bucket), key), target))
        dest_dir.mkdir(parents=True, exist_ok=True)
        local_files = download_each(
            ctx,
            "s3_download_files",
            "s3_object_downloaded",
            plan,
            lambda obj, target, progress: s3.download(
                obj[0], obj[1], target, cancelled=ctx.cancelled, progress=progress
            ),
            lambda obj: {"path": f"s3://{obj[0]}/{obj[1]}"},
            total=listed_size(inputs.files),
        )
        return StepResult.success(local_files=local_files, dest_dir=str(dest_dir))


# -- s3_upload_files -------------------------------------------------------------------------------------------------
class S3UploadItem(BaseModel):
    """One upload item given as a mapping."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str
    key: str | None = None


class S3UploadInputs(Inputs):
    """Inputs of ``s3_upload_files``."""

    resource: str
    items: list[str | S3UploadItem]
    bucket: str | None = None
    prefix: str = ""
    overwrite: bool = True
    content_type: str | None = None
    parallelism: Parallelism = Parallelism()

    _one_or_many = field_validator("items", mode="before")(as_list)


class S3UploadFiles(Step[S3UploadInputs]):
    """Upload files (paths, directories, globs or ``{file, key}``); a per-key manifest lets a retry skip finished
    keys; SKIPPED when the items name no file."""

    inputs_model = S3UploadInputs
    result_keys = frozenset({"uploaded", "count", "manifest", "reason"})
    resource_kind: ClassVar[str | None] = "s3"

    def run(self, inputs: S3UploadInputs, ctx: StepContext) -> StepResult:
        planned = self._plan(inputs, ctx)
        if not planned:
            return no_files(uploaded=[])
        keys = [key for _, key in planned]
        check_unique_ids("s3_upload_files", keys)
        manifest = UploadManifest(ctx, keys)
        s3 = _connector(ctx, inputs.resource)
        bucket = s3.bucket(inputs.bucket)
        meter = ctx.progress("bytes", total=local_size([p[0] for p in planned if manifest.previous(p[1]) is None]))

        def upload_one(index: int, plan: tuple[Path, str]) -> dict[str, Any] | None:
            local, key = plan
            previous = manifest.previous(key)
            if previous is not None:
                entry = {"id": key, "file": str(local), "key": key, "skipped": True}
                if previous.get("etag"):
                    entry["etag"] = previous["etag"]
                manifest.record(index, entry)
                return {"file": str(local), "key": key, "etag": previous["etag"]} if previous.get("etag") else None
            check_cancelled(ctx.cancelled, "s3_upload_files")
            if not inputs.overwrite and s3.exists(bucket, key):
                manifest.record(index, {"id": key, "file": str(local), "key": key, "skipped": True, "reason": "exists"})
                ctx.emit("s3_object_exists_skipped", path=f"s3://{bucket}/{key}")
                return None
            started = time.monotonic()
            done = s3.upload(
                local, bucket, key, content_type=inputs.content_type, cancelled=ctx.cancelled, progress=meter.part()
            )
            manifest.record(index, {"id": key, "file": str(local), "key": key, "etag": done["etag"]})
            ctx.emit(
                "s3_object_uploaded",
                level="DEBUG",
                path=f"s3://{bucket}/{key}",
                bytes=done["size"],
                duration_ms=elapsed_ms(started),
            )
            return {"file": str(local), "key": key, "etag": done["etag"]}

        def report(index: int, error: BaseException) -> None:
            ctx.emit(
                "s3_upload_failed",
                level="WARNING",
                path=f"s3://{bucket}/{planned[index][1]}",
                error=f"{type(error).__name__}: {error}",
            )

        results = run_items(
            planned, upload_one, parallelism=inputs.parallelism, cancelled=ctx.cancelled, on_error=report
        )
        manifest.save()
        uploaded = [r for r in results if r is not None]
        return StepResult.success(uploaded=uploaded, count=len(uploaded), manifest=str(manifest.path))

    @staticmethod
    def _plan(inputs: S3UploadInputs, ctx: StepContext) -> list[tuple[Path, str]]:
        planned: list[tuple[Path, str]] = []
        for item in inputs.items:
            raw = item if isinstance(item, str) else item.file
            explicit_key = None if isinstance(item, str) else item.key
            files = local_matches(ctx, "s3_upload_files", raw)
            if explicit_key is not None and len(files) > 1:
                raise input_error(f"s3_upload_files item '{raw}' names {len(files)} files but gives one key")
            for local in files:
                planned.append((local, explicit_key or f"{inputs.prefix}{local.name}"))
        return planned


# -- s3_delete_files -------------------------------------------------------------------------------------------------
class S3DeleteInputs(Inputs):
    """Inputs of ``s3_delete_files``: entries or keys."""

    resource: str
    files: list[str | dict[str, Any]]
    bucket: str | None = None

    _one_or_many = field_validator("files", mode="before")(as_list)


class S3DeleteFiles(Step[S3DeleteInputs]):
    """Delete objects; a key that does not exist is not an error."""

    inputs_model = S3DeleteInputs
    result_keys = frozenset({"is_deleted", "count"})
    resource_kind: ClassVar[str | None] = "s3"

    def run(self, inputs: S3DeleteInputs, ctx: StepContext) -> StepResult:
        s3 = _connector(ctx, inputs.resource)
        by_bucket: dict[str, list[str]] = {}
        for entry in inputs.files:
            entry_bucket, key = _key_of("s3_delete_files", entry)
            by_bucket.setdefault(entry_bucket or s3.bucket(inputs.bucket), []).append(key)
        count = 0
        for bucket, keys in by_bucket.items():
            check_cancelled(ctx.cancelled, "s3_delete_files")
            count += s3.delete(bucket, keys)
        return StepResult.success(is_deleted=True, count=count)
