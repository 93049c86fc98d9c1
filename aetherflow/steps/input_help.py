"""One-line meanings of the built-in steps' inputs, and the allowed values of inputs checked when the step runs.

The step input models own each input's name, type and default; this table adds what an input means (for the JSON
Schema's ``description`` and the step reference in ``docs/reference/steps/``) and, for string inputs whose values
the step checks itself (case-insensitively, with its own message), the values an editor may offer. A unit test fails
when a top-level input of a built-in step has no meaning here. Entries for inputs a model does not have (yet) are
ignored.
"""

from __future__ import annotations

from typing import Final

#: input name -> meaning, for inputs that mean the same in every step that has them
COMMON: Final[dict[str, str]] = {
    "resource": "Name of the flow resource (connection) the step uses.",
    "connector": "Alias of `resource`.",
    "params": "Named query parameters, bound as `:name`.",
    "fetch_size": "Rows fetched per batch; memory holds one batch.",
    "skip_if_empty": "End SKIPPED with `reason: no_rows` when the query returns no rows.",
    "output": "Output file, sandbox-resolved (relative paths land in the job's artifacts directory).",
    "sql": "The query.",
    "files": "Remote entries (as listed by the matching `*_list_files` step) or remote path strings.",
    "dest_dir": "Local directory the files are written to (created; sandbox-resolved).",
    "remote_dir": "Remote directory.",
    "pattern": "Glob matched against file names.",
    "recursive": "Descend into sub-directories.",
    "min_count": "Fewer items than this ends the step SKIPPED.",
    "min_age_seconds": "Leave out files modified less than this many seconds ago (still being written).",
    "bucket": "Bucket; defaults to the resource's `config.bucket`.",
    "prefix": "Key prefix.",
    "parallelism": "Concurrent transfers: `{enabled, workers, fail_fast}`.",
    "template_path": "Excel template (`.xlsx`), sandbox-resolved; must exist.",
    "targets": "Named ranges or anchor cells to fill, one mapping each.",
    "password": "Archive password (redacted in logs).",
    "overwrite": "Replace existing files; `false` keeps them.",
    "src_dir": "Base directory; paths and archive names are relative to it (default: the artifacts directory).",
    "timeout_seconds": "Timeout in seconds.",
}

#: step type -> input name -> meaning, where it differs from COMMON or is specific to the step
PER_STEP: Final[dict[str, dict[str, str]]] = {
    "check_items": {
        "items": "A list, or a comma-separated string (parts trimmed, empty parts dropped).",
        "min_count": "Fewer items than this ends the step SKIPPED.",
    },
    "with_lock": {
        "lock_key": "Name of the lock held while the inner step runs.",
        "step": "The inner step: `{type, id?, inputs?}`.",
        "ttl_seconds": "Lock time-to-live; renewed by heartbeats while held.",
        "wait_seconds": "How long to wait for a busy lock before failing (polls every 2 s).",
    },
    "db_extract": {"format": "File format: `tsv` or `jsonl`."},
    "db_extract_stream": {
        "format": "File format: `tsv`, `csv` or `parquet` (needs the `parquet` extra).",
        "output": "Output file, sandbox-resolved.",
        "include_header": "Write a header row (TSV/CSV).",
        "emit_dtypes": "Add `dtypes`/`dtypes_json` (column types) to the outputs.",
        "dtypes": "Column -> type mapping (`int`, `float`, `bool`, `date`, `datetime`, `string`).",
        "dtypes_json": "`dtypes` as JSON text.",
        "encoding": "Text encoding of TSV/CSV files.",
        "delimiter": "Field delimiter (default tab for `tsv`, comma for `csv`).",
        "quotechar": "Quote character.",
        "escapechar": "Escape character (none by default).",
        "doublequote": "Write a quote inside a field as two quotes.",
        "quoting": "When fields are quoted: `minimal`, `all`, `none` or `nonnumeric`.",
        "linefeed": "Line terminator.",
        "file": "The CSV keys above, nested; a top-level key wins.",
    },
    "db_fetch_small": {"max_rows": "More rows than this fails the step (use `db_extract_stream` instead)."},
    "excel_fill_from_file": {"rows_threshold": "Largest row count a report-region target may write."},
    "excel_fill_small": {},
    "excel_validate_template": {
        "required_names": "Named ranges or anchor cells that must exist (list or JSON text).",
        "sheet": "Sheet to look in (default: every sheet).",
    },
    "external.process": {
        "command": "The program: a list (argv, no shell) or a string (one program path; a shell script with `shell`).",
        "args": "Extra arguments appended to the argv.",
        "shell": "Run through `/bin/sh -c`.",
        "cwd": "Working directory (sandbox-resolved).",
        "inherit_env": "Start from the run's environment; `false` starts from an empty one.",
        "env": "Variables set last (values converted to strings, null to empty).",
        "timeout_seconds": "Timeout of each process attempt; the whole process group is stopped.",
        "kill_grace_seconds": "After SIGTERM, how long to wait before SIGKILL.",
        "log": "Where the child's output goes: `{stdout, stderr, file_path, max_capture_kb}`.",
        "success": "What counts as success: `{exit_codes, require_files, require_glob, forbid_files, marker_file}`.",
        "idempotency": "Skip or stage work: `{strategy: none|marker|atomic_dir, ...}`.",
        "retry": "Process attempts within one step attempt: `{max_attempts, backoff_seconds, ...}`.",
        "outputs": "Mapping copied into the step's outputs.",
    },
    "http_request": {
        "path": "Path appended to the resource's base URL (an absolute URL must have the resource's origin).",
        "method": "HTTP method.",
        "params": "Query parameters.",
        "headers": "Headers merged over the resource's headers.",
        "json": "JSON request body.",
        "data": "Form fields.",
        "body": "Raw text body.",
        "body_file": "File streamed as the body (sandbox-resolved; must exist; no globs, not a directory).",
        "content_type": "Content type of `body_file` (default `application/octet-stream`).",
        "timeout_seconds": "Timeout up to the response headers and of each read (default: the resource's).",
        "expect_status": "Accepted status codes (default: 200-299).",
        "output": "File the response body is streamed to.",
        "max_body_bytes": "Body kept in the outputs only up to this size.",
    },
    "mail_send": {
        "to": "Recipients: a list, or a string of comma-separated addresses.",
        "subject": "Subject.",
        "body": "Body (HTML when `html`).",
        "html": "The body is HTML.",
        "text": "Plain-text alternative of an HTML body.",
        "cc": "Copy recipients.",
        "bcc": "Blind-copy recipients (no header).",
        "from_addr": "Sender (default: the resource's `from_addr`).",
        "attachments": "Files attached (sandbox-resolved; each must exist; no globs, no directories).",
        "max_attachments_bytes": "Cap on the total size of the attachments.",
    },
    "s3_list_files": {"recursive": "List every level; `false` lists one level (`/` delimiter)."},
    "s3_upload_files": {
        "items": "Local files, directories (their files), globs or `{file, key?}` mappings.",
        "overwrite": "Replace existing keys; `false` skips them.",
        "content_type": "Content type of every object.",
    },
    "sftp_upload_files": {
        "items": "Local files, directories (their files), globs or `{file, id?, remote_name?}` mappings."
    },
    "smb_upload_files": {"local_files": "Local files, directories (their files) or globs."},
    "zip": {
        "dest_path": "Archive written (sandbox-resolved).",
        "items": "Paths, globs or `{path}`/`{glob}` mappings; directories expanded.",
        "recursive": "Include directory contents.",
        "compression": "`deflated` or `stored`.",
    },
    "unzip": {
        "archives": "Archives: paths, directories (their files) or globs (sandbox-resolved).",
        "dest_dir": "Directory extracted into (created).",
        "private_zip_folder": "Extract each archive into `dest_dir/<archive name without .zip>/`.",
        "members": "Extract only these member names.",
        "max_total_mb": "Refuse an archive whose uncompressed total exceeds this many MB.",
        "max_entries": "Refuse an archive with more entries than this.",
        "max_ratio": "Refuse an archive (or an entry over 1 MiB) compressed more than this ratio.",
    },
}

#: step type -> input -> values the step accepts (it compares case-insensitively), offered by the JSON Schema
ALLOWED: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "db_extract": {"format": ("tsv", "jsonl")},
    "db_extract_stream": {"format": ("tsv", "csv", "parquet"), "quoting": ("minimal", "all", "none", "nonnumeric")},
    "zip": {"compression": ("deflated", "stored")},
    "http_request": {"method": ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")},
}


def input_help(step_type: str, name: str) -> str | None:
    """The meaning of input ``name`` of ``step_type``, or None when none is written."""
    return PER_STEP.get(step_type, {}).get(name) or COMMON.get(name)


_CSV: Final[dict[str, str]] = {
    "encoding": "Text encoding of the source file.",
    "delimiter": "Field delimiter of the source file.",
    "quotechar": "Quote character of the source file.",
    "escapechar": "Escape character of the source file.",
    "doublequote": "A quote inside a field is written as two quotes.",
    "quoting": "Quoting of the source file: `minimal`, `all`, `none` or `nonnumeric`.",
    "linefeed": "Line terminator of the source file.",
}

_TARGET: Final[dict[str, str]] = {
    "name": "Named range (or target name) to fill.",
    "sheet": "Sheet of the anchor cell.",
    "anchor": "Top-left cell (or marker text) where the rows start.",
    "cell": "Alias of `anchor`.",
    "anchor_is_marker": "`anchor` is a marker text to find, not a cell address.",
    "template_has_header": "The template already has a header row at the anchor.",
    "insert": "`replace` existing rows, or insert `below` the anchor.",
    "header_mode": "Header from the `template`, `override` it, or `append` a header row.",
    "header_style": "Header cells styled like the `template` or like the style row.",
    "header_clear": "Clear the header area before writing.",
    "header_clear_width": "Columns cleared by `header_clear`.",
    "anchor_clear": "Clear the anchor (marker) before writing.",
    "anchor_clear_mode": "Clear the anchor `cell` or its whole `row`.",
    "anchor_clear_width": "Columns cleared by `anchor_clear`.",
    "columns_json": "Column names as JSON text (e.g. `db_fetch_small`'s `columns_json`).",
    "rows_json": "Rows as JSON text (e.g. `db_fetch_small`'s `rows_json`).",
    "row_count": "Number of rows, when known.",
    "type_cast": "Convert cell values: `none`, `basic` (numbers, dates) or `schema` (by `dtypes`).",
    "dtypes": "Column -> type mapping used by `type_cast: schema`.",
    "dtypes_json": "`dtypes` as JSON text.",
    "style_mode": "Copy a style row onto written rows (`copy_row`) or not (`none`).",
    "style_row_offset": "Row offset of the style row from the anchor.",
    "style_apply": "Apply the style to `data`, `header` or `both`.",
    "clear_style_row": "Remove the style row after writing.",
    "max_rows": "Most rows written for this target.",
    "max_total_rows": "Most rows written in total.",
    "max_cols": "Most columns written.",
    "source_path": "Data file to read (sandbox-resolved; must exist).",
    "source_format": "Format of the data file: `csv`, `tsv` or `parquet` (default: from its extension).",
    "mode": "Write a new `data_sheet`, or fill a `report_region` of the template.",
    "data_sheet_prefix": "Name prefix of created data sheets.",
    "read_header": "The data file's first row is a header.",
    "include_header": "Write a header row.",
    "columns": "Columns to take from the data file, in order.",
    "count_mode": "How rows are counted before writing (`fast`).",
    "rows_threshold": "Row count above which a report region fails (with `fail_on_threshold`).",
    "fail_on_threshold": "Fail when the data exceeds `rows_threshold`.",
    "autofilter": "Add an autofilter to a data sheet.",
    "freeze_panes": "Freeze the header row of a data sheet.",
    "header_bold": "Write the header in bold.",
    "file": "CSV reading options of the data file.",
    **_CSV,
}

#: nested input model name -> field -> meaning
NESTED: Final[dict[str, dict[str, str]]] = {
    "LogInputs": {
        "stdout": "Where standard output goes: `inherit` (logged by the runner line by line), `capture`, `file`, "
        "`discard`.",
        "stderr": "Where standard error goes (as `stdout`).",
        "file_path": "Log file for the `file` mode (appended; sandbox-resolved).",
        "max_capture_kb": "Kilobytes kept per stream in `capture` mode.",
    },
    "SuccessInputs": {
        "exit_codes": "Exit codes that count as success.",
        "require_files": "Files that must exist after the process.",
        "require_glob": "Globs that must each match at least one path.",
        "forbid_files": "Files that must not exist.",
        "marker_file": "A file that must exist (added to `require_files`).",
    },
    "IdempotencyInputs": {
        "strategy": "`none`, `marker` (skip when the marker exists) or `atomic_dir` (stage, then rename).",
        "marker_path": "Marker file for `marker` (default: `success.marker_file`).",
        "temp_output_dir": "Staging directory for `atomic_dir` (given to the child as `AETHERFLOW_OUTPUT_DIR`).",
        "final_output_dir": "Directory the staging directory becomes for `atomic_dir`.",
        "atomic_rename": "Rename staging to final; `false` moves the entries instead.",
    },
    "ProcessRetryInputs": {
        "max_attempts": "Process attempts within one step attempt.",
        "backoff_seconds": "Delay before the second attempt.",
        "backoff_multiplier": "Each later delay is multiplied by this.",
        "max_backoff_seconds": "Cap on the delay (0: no cap).",
        "retry_on_exit_codes": "Rejected exit codes that are retried.",
        "retry_on_timeout": "Retry after a timeout.",
    },
    "Parallelism": {
        "enabled": "Transfer files concurrently.",
        "workers": "Concurrent transfers.",
        "fail_fast": "Stop at the first failed transfer.",
    },
    "S3UploadItem": {"file": "Local file, directory or glob.", "key": "Object key (default: prefix + base name)."},
    "SftpUploadItem": {
        "file": "Local file, directory or glob.",
        "id": "Id in the upload manifest (default: the base name); done ids are skipped on retry.",
        "remote_name": "Remote file name (default: the base name).",
    },
    "InnerStep": {
        "type": "Step type of the inner step.",
        "id": "Id of the inner step (default: `<outer id>_inner`).",
        "inputs": "Inputs of the inner step.",
    },
    "FileOptions": dict(_CSV),
    "FileTarget": dict(_TARGET),
    "SmallTarget": dict(_TARGET),
}
