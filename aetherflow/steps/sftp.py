"""SFTP steps (kind ``sftp``): list, download, upload (atomic, manifest, parallel) and delete remote files.

The connector (``sftp:paramiko``) does the protocol work; these steps handle inputs, local paths (sandbox), the
upload manifest, cancellation between files, and the outputs of docs/reference/steps/sftp.md.
"""

from __future__ import annotations

import posixpath
import time
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aetherflow.api import Inputs, Step, StepContext, StepResult, check_cancelled
from aetherflow.steps._transfer import (
    Parallelism,
    RemoteFilesConnector,
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
    remote_path_of,
    run_items,
)


def _connector(ctx: StepContext, resource: str) -> RemoteFilesConnector:
    connector: RemoteFilesConnector = ctx.connector(resource, kind="sftp")
    return connector


# -- sftp_list_files -------------------------------------------------------------------------------------------------
class SftpListInputs(Inputs):
    """Inputs of ``sftp_list_files``."""

    resource: str
    remote_dir: str
    pattern: str = "*"
    recursive: bool = False
    min_count: int = Field(1, ge=0)
    min_age_seconds: float = Field(0.0, ge=0)


class SftpListFiles(Step[SftpListInputs]):
    """List remote files (directories never listed); SKIPPED when fewer than ``min_count`` match."""

    inputs_model = SftpListInputs
    result_keys = frozenset({"has_data", "count", "files", "reason"})
    resource_kind: ClassVar[str | None] = "sftp"

    def run(self, inputs: SftpListInputs, ctx: StepContext) -> StepResult:
        sftp = _connector(ctx, inputs.resource)
        files = sftp.list_files(
            inputs.remote_dir,
            pattern=inputs.pattern,
            recursive=inputs.recursive,
            min_age_seconds=inputs.min_age_seconds,
            cancelled=ctx.cancelled,
        )
        return listing_result(files, inputs.min_count)


# -- sftp_download_files ---------------------------------------------------------------------------------------------
class SftpDownloadInputs(Inputs):
    """Inputs of ``sftp_download_files``: entries from ``sftp_list_files`` or remote path strings."""

    resource: str
    files: list[str | dict[str, Any]]
    dest_dir: str

    _one_or_many = field_validator("files", mode="before")(as_list)


class SftpDownloadFiles(Step[SftpDownloadInputs]):
    """Download files to ``dest_dir/<rel_path>`` (a string's ``rel_path`` is its base name)."""

    inputs_model = SftpDownloadInputs
    result_keys = frozenset({"local_files", "dest_dir"})
    resource_kind: ClassVar[str | None] = "sftp"

    def run(self, inputs: SftpDownloadInputs, ctx: StepContext) -> StepResult:
        dest_dir = ctx.resolve_path(inputs.dest_dir)
        plan: list[tuple[str, Path]] = []
        for entry in inputs.files:
            remote = remote_path_of("sftp_download_files", entry)
            plan.append((remote, download_target(ctx, dest_dir, entry, remote)))
        dest_dir.mkdir(parents=True, exist_ok=True)
        sftp = _connector(ctx, inputs.resource)
        local_files = download_each(
            ctx,
            "sftp_download_files",
            "sftp_file_downloaded",
            plan,
            lambda remote, local, progress: sftp.download(remote, local, cancelled=ctx.cancelled, progress=progress),
            lambda remote: {"remote_path": remote},
            total=listed_size(inputs.files),
        )
        return StepResult.success(local_files=local_files, dest_dir=str(dest_dir))


# -- sftp_upload_files -----------------------------------------------------------------------------------------------
class SftpUploadItem(BaseModel):
    """One upload item given as a mapping."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str
    id: str | None = None
    remote_name: str | None = None


class SftpUploadInputs(Inputs):
    """Inputs of ``sftp_upload_files``."""

    resource: str
    items: list[str | SftpUploadItem]
    remote_dir: str
    parallelism: Parallelism = Parallelism()

    _one_or_many = field_validator("items", mode="before")(as_list)


def _upload_plan(ctx: StepContext, inputs: SftpUploadInputs) -> list[tuple[str, Path, str]]:
    """(id, local file, remote path) of every file the items name; an item naming several files cannot give them
    one ``id`` or ``remote_name``."""
    planned: list[tuple[str, Path, str]] = []
    for item in inputs.items:
        raw = item if isinstance(item, str) else item.file
        files = local_matches(ctx, "sftp_upload_files", raw)
        if not isinstance(item, str) and (item.id or item.remote_name) and len(files) > 1:
            raise input_error(f"sftp_upload_files item '{raw}' names {len(files)} files but gives one id/remote_name")
        for local in files:
            item_id = local.name if isinstance(item, str) else (item.id or local.name)
            remote_name = local.name if isinstance(item, str) else (item.remote_name or local.name)
            planned.append((item_id, local, posixpath.join(inputs.remote_dir, remote_name)))
    return planned


class SftpUploadFiles(Step[SftpUploadInputs]):
    """Upload local files, directories (their files) and globs atomically (``.part`` then rename); a per-item
    manifest lets a retry skip finished ids; SKIPPED when the items name no file."""

    inputs_model = SftpUploadInputs
    result_keys = frozenset({"manifest", "count", "reason"})
    resource_kind: ClassVar[str | None] = "sftp"

    def run(self, inputs: SftpUploadInputs, ctx: StepContext) -> StepResult:
        planned = _upload_plan(ctx, inputs)
        if not planned:
            return no_files()
        ids = [p[0] for p in planned]
        check_unique_ids("sftp_upload_files", ids)
        manifest = UploadManifest(ctx, ids)
        sftp = _connector(ctx, inputs.resource)
        meter = ctx.progress("bytes", total=local_size([p[1] for p in planned if manifest.previous(p[0]) is None]))

        def upload_one(index: int, plan: tuple[str, Path, str]) -> None:
            item_id, local, remote = plan
            if manifest.previous(item_id) is not None:
                manifest.record(index, {"id": item_id, "skipped": True, "file": str(local), "remote_path": remote})
                return
            check_cancelled(ctx.cancelled, "sftp_upload_files")
            started = time.monotonic()
            size = sftp.upload(local, remote, cancelled=ctx.cancelled, progress=meter.part())
            manifest.record(index, {"id": item_id, "file": str(local), "remote_path": remote})
            ctx.emit(
                "sftp_file_uploaded",
                level="DEBUG",
                id=item_id,
                remote_path=remote,
                bytes=size,
                duration_ms=elapsed_ms(started),
            )

        def report(index: int, error: BaseException) -> None:
            ctx.emit(
                "sftp_upload_failed",
                level="WARNING",
                id=planned[index][0],
                remote_path=planned[index][2],
                error=f"{type(error).__name__}: {error}",
            )

        run_items(planned, upload_one, parallelism=inputs.parallelism, cancelled=ctx.cancelled, on_error=report)
        manifest.save()  # also when every item was done before: the output names the file
        return StepResult.success(manifest=str(manifest.path), count=len(planned))


# -- sftp_delete_files -----------------------------------------------------------------------------------------------
class SftpDeleteInputs(Inputs):
    """Inputs of ``sftp_delete_files``: entries or remote paths."""

    resource: str
    files: list[str | dict[str, Any]]

    _one_or_many = field_validator("files", mode="before")(as_list)


class SftpDeleteFiles(Step[SftpDeleteInputs]):
    """Delete remote files; a missing one fails the step."""

    inputs_model = SftpDeleteInputs
    result_keys = frozenset({"is_deleted"})
    resource_kind: ClassVar[str | None] = "sftp"

    def run(self, inputs: SftpDeleteInputs, ctx: StepContext) -> StepResult:
        paths = [remote_path_of("sftp_delete_files", entry) for entry in inputs.files]
        sftp = _connector(ctx, inputs.resource)
        for path in paths:
            check_cancelled(ctx.cancelled, "sftp_delete_files")
            sftp.delete(path)
        return StepResult.success(is_deleted=True)
