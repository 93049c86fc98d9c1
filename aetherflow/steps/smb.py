"""SMB steps (kind ``smb``): list, download, upload (atomic) and delete files on a Windows/Samba share.

The connectors (``smb:smbclient``, ``smb:pysmb``) do the protocol work, path parsing (``SHARE:/dir``, UNC, drive
letters) and the share-root check; these steps handle inputs, local paths (sandbox), cancellation between files and
upstream's outputs. SMB connectors of legacy plugins are used through upstream's contract (``_smb_legacy``).
Uploads go one at a time: a retried step re-uploads every file, which is safe because each upload replaces its
target atomically.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator

from aetherflow.api import Inputs, Step, StepContext, StepResult, check_cancelled
from aetherflow.steps._smb_legacy import remote_files
from aetherflow.steps._transfer import (
    RemoteFilesConnector,
    as_list,
    download_each,
    download_target,
    elapsed_ms,
    expand_local_files,
    input_error,
    listed_size,
    listing_result,
    local_size,
    no_files,
    remote_path_of,
)


def _connector(ctx: StepContext, resource: str) -> RemoteFilesConnector:
    return remote_files(ctx.connector(resource, kind="smb"))


# -- smb_list_files --------------------------------------------------------------------------------------------------
class SmbListInputs(Inputs):
    """Inputs of ``smb_list_files``."""

    resource: str
    remote_dir: str
    pattern: str = "*"
    recursive: bool = False
    min_count: int = Field(1, ge=0)
    min_age_seconds: float = Field(0.0, ge=0)


class SmbListFiles(Step[SmbListInputs]):
    """List remote files (directories never listed); SKIPPED when fewer than ``min_count`` match."""

    inputs_model = SmbListInputs
    result_keys = frozenset({"has_data", "count", "files", "reason"})
    resource_kind: ClassVar[str | None] = "smb"

    def run(self, inputs: SmbListInputs, ctx: StepContext) -> StepResult:
        files = _connector(ctx, inputs.resource).list_files(
            inputs.remote_dir,
            pattern=inputs.pattern,
            recursive=inputs.recursive,
            min_age_seconds=inputs.min_age_seconds,
            cancelled=ctx.cancelled,
        )
        return listing_result(files, inputs.min_count)


# -- smb_download_files ----------------------------------------------------------------------------------------------
class SmbDownloadInputs(Inputs):
    """Inputs of ``smb_download_files``: entries from ``smb_list_files`` or remote path strings."""

    resource: str
    files: list[str | dict[str, Any]]
    dest_dir: str

    _one_or_many = field_validator("files", mode="before")(as_list)


class SmbDownloadFiles(Step[SmbDownloadInputs]):
    """Download files to ``dest_dir/<rel_path>`` (a string's ``rel_path`` is its base name)."""

    inputs_model = SmbDownloadInputs
    result_keys = frozenset({"local_files", "dest_dir"})
    resource_kind: ClassVar[str | None] = "smb"

    def run(self, inputs: SmbDownloadInputs, ctx: StepContext) -> StepResult:
        dest_dir = ctx.resolve_path(inputs.dest_dir)
        plan: list[tuple[str, Path]] = []
        for entry in inputs.files:
            remote = remote_path_of("smb_download_files", entry)
            plan.append((remote, download_target(ctx, dest_dir, entry, remote.replace("\\", "/"))))
        dest_dir.mkdir(parents=True, exist_ok=True)
        smb = _connector(ctx, inputs.resource)
        local_files = download_each(
            ctx,
            "smb_download_files",
            "smb_file_downloaded",
            plan,
            lambda remote, local, progress: smb.download(remote, local, cancelled=ctx.cancelled, progress=progress),
            lambda remote: {"remote_path": remote},
            total=listed_size(inputs.files),
        )
        return StepResult.success(local_files=local_files, dest_dir=str(dest_dir))


# -- smb_upload_files ------------------------------------------------------------------------------------------------
class SmbUploadInputs(Inputs):
    """Inputs of ``smb_upload_files``: local files, directories (their files) or globs."""

    resource: str
    local_files: list[str]
    remote_dir: str

    _one_or_many = field_validator("local_files", mode="before")(as_list)


class SmbUploadFiles(Step[SmbUploadInputs]):
    """Upload local files to ``remote_dir/<base name>`` (``.part`` then rename); SKIPPED when there is none."""

    inputs_model = SmbUploadInputs
    result_keys = frozenset({"uploaded", "remote_dir", "count", "reason"})
    resource_kind: ClassVar[str | None] = "smb"

    def run(self, inputs: SmbUploadInputs, ctx: StepContext) -> StepResult:
        files = expand_local_files(ctx, "smb_upload_files", inputs.local_files)
        if not files:
            return no_files(uploaded=[], remote_dir=inputs.remote_dir)
        seen: dict[str, Path] = {}
        for local in files:
            if local.name in seen:
                raise input_error(
                    f"smb_upload_files: {seen[local.name]} and {local} would both be uploaded as '{local.name}'"
                )
            seen[local.name] = local
        smb = _connector(ctx, inputs.resource)
        base = inputs.remote_dir.rstrip("/\\")
        uploaded: list[str] = []
        meter = ctx.progress("bytes", total=local_size(files))
        for local in files:
            check_cancelled(ctx.cancelled, "smb_upload_files")
            remote = f"{base}/{local.name}" if base else local.name
            started = time.monotonic()
            size = smb.upload(local, remote, cancelled=ctx.cancelled, progress=meter.part())
            ctx.emit(
                "smb_file_uploaded",
                level="DEBUG",
                local_path=str(local),
                remote_path=remote,
                bytes=size,
                duration_ms=elapsed_ms(started),
            )
            uploaded.append(str(local))
        return StepResult.success(uploaded=uploaded, remote_dir=inputs.remote_dir, count=len(uploaded))


# -- smb_delete_files ------------------------------------------------------------------------------------------------
class SmbDeleteInputs(Inputs):
    """Inputs of ``smb_delete_files``: entries or remote paths."""

    resource: str
    files: list[str | dict[str, Any]]

    _one_or_many = field_validator("files", mode="before")(as_list)


class SmbDeleteFiles(Step[SmbDeleteInputs]):
    """Delete remote files; a missing one fails the step."""

    inputs_model = SmbDeleteInputs
    result_keys = frozenset({"is_deleted"})
    resource_kind: ClassVar[str | None] = "smb"

    def run(self, inputs: SmbDeleteInputs, ctx: StepContext) -> StepResult:
        paths = [remote_path_of("smb_delete_files", entry) for entry in inputs.files]
        smb = _connector(ctx, inputs.resource)
        for path in paths:
            check_cancelled(ctx.cancelled, "smb_delete_files")
            smb.delete(path)
        return StepResult.success(is_deleted=True)
