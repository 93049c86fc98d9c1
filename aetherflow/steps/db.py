"""Database steps (kind ``db``): ``db_extract``, ``db_fetch_small``, ``db_extract_stream``.

See docs/reference/steps/database.md.

Each reaches its resource's connector through ``ctx.connector(resource, kind="db")`` and uses only the DB primitives
every DB connector offers: ``fetch_batches(sql, params, fetch_size) -> (columns, batches of row tuples)``, plus the
optional ``export_csv`` fast path of ``db:sqlalchemy`` on PostgreSQL. Rows are streamed batch by batch,
``ctx.cancelled`` is checked between batches, and output files are written to ``<name>.tmp`` (fsynced) and renamed
into place: a failed or stopped step leaves neither a half-written output nor the temporary file behind.
"""

from __future__ import annotations

import csv
import inspect
import json
from collections.abc import Generator, Mapping, Sequence
from typing import Any, BinaryIO, Protocol

from pydantic import Field

from aetherflow.api import Inputs, Step, StepContext, StepResult
from aetherflow.steps._allowed import one_of
from aetherflow.steps.db_csv import CsvOptions, given_dtypes, write_csv
from aetherflow.steps.db_output import AtomicOutput, LineBuffer, RowTally
from aetherflow.steps.db_parquet import import_pyarrow, write_parquet
from aetherflow.steps.db_values import DTYPE_SAMPLE_ROWS, DtypeSniffer, dtype_of, json_default, rows_json_default

__all__ = [
    "DTYPE_SAMPLE_ROWS",
    "AtomicOutput",
    "CsvOptions",
    "DbExtract",
    "DbExtractInputs",
    "DbExtractStream",
    "DbExtractStreamInputs",
    "DbFetchSmall",
    "DbFetchSmallInputs",
    "DtypeSniffer",
    "LineBuffer",
    "dtype_of",
]

Row = Sequence[Any]
Batches = Generator[list[Row], None, None]


class DbConnector(Protocol):
    """What the DB steps need from a ``db`` connector."""

    def fetch_batches(
        self, sql: str, params: Mapping[str, Any] | None, fetch_size: int
    ) -> tuple[list[str], Batches]: ...


# -- inputs ---------------------------------------------------------------------------------------------------------
class _DbInputs(Inputs):
    resource: str
    sql: str
    params: dict[str, Any] | None = None
    fetch_size: int = Field(5000, ge=1)
    skip_if_empty: bool = False


class DbExtractInputs(_DbInputs):
    """Inputs of ``db_extract``."""

    output: str
    format: str = "tsv"

    _format = one_of("db_extract", "format")


class DbFetchSmallInputs(_DbInputs):
    """Inputs of ``db_fetch_small``."""

    max_rows: int = Field(50000, ge=0)


class DbExtractStreamInputs(_DbInputs):
    """Inputs of ``db_extract_stream``; the CSV keys may also sit under ``file`` (a top-level key wins)."""

    output: str
    format: str = "tsv"
    include_header: bool = True
    emit_dtypes: bool = False
    dtypes: Any = None
    dtypes_json: str | None = None
    encoding: str = "utf-8"
    delimiter: str | None = None
    quotechar: str = '"'
    escapechar: str | None = None
    doublequote: bool = True
    quoting: str = "minimal"
    linefeed: str = "\n"
    file: dict[str, Any] | None = None

    _format = one_of("db_extract_stream", "format")
    _quoting = one_of("db_extract_stream", "quoting")


def _connector(ctx: StepContext, resource: str) -> DbConnector:
    conn: DbConnector = ctx.connector(resource, kind="db")
    return conn


def _fetch(connector: DbConnector, inputs: _DbInputs, ctx: StepContext) -> tuple[list[str], Batches]:
    """``fetch_batches``, handing over the stop token to connectors that can cancel a running statement."""
    params = inputs.params or {}
    fetch = connector.fetch_batches
    try:
        accepts_cancel = "cancelled" in inspect.signature(fetch).parameters
    except (TypeError, ValueError):
        accepts_cancel = False
    if accepts_cancel:
        return fetch(inputs.sql, params, inputs.fetch_size, cancelled=ctx.cancelled)  # type: ignore[call-arg]
    return fetch(inputs.sql, params, inputs.fetch_size)


def _close(batches: Any) -> None:
    """Release the connector's cursor/connection now (a plugin's plain iterator may have nothing to close)."""
    close = getattr(batches, "close", None)
    if callable(close):
        close()


# -- writers --------------------------------------------------------------------------------------------------------
def _write_tsv(out: BinaryIO, columns: list[str], batches: Batches, tally: RowTally) -> None:
    """Plain TSV: values joined by tabs, null -> empty, others str(), no quoting or escaping."""
    lines = LineBuffer()
    if columns:
        lines.append("\t".join(columns) + "\n")
    # The csv module writes exactly this (None -> '', str() of the rest) at C speed, but refuses values that would
    # need escaping (a tab, a newline, a lone empty field): those rows are joined by hand, unescaped, as specified.
    writer = csv.writer(
        lines, delimiter="\t", quoting=csv.QUOTE_NONE, quotechar=None, escapechar=None, lineterminator="\n"
    )
    writerow = writer.writerow
    for batch in batches:
        for row in batch:
            try:
                writerow(row)
            except csv.Error:
                lines.append("\t".join("" if v is None else str(v) for v in row) + "\n")
        lines.flush_to(out, "utf-8")
        tally.batch(len(batch))
    lines.flush_to(out, "utf-8")


def _write_jsonl(out: BinaryIO, columns: list[str], batches: Batches, tally: RowTally) -> None:
    encode = json.JSONEncoder(ensure_ascii=False, default=json_default).encode
    for batch in batches:
        text = "".join(encode(dict(zip(columns, row, strict=False))) + "\n" for row in batch)
        out.write(text.encode("utf-8"))
        tally.batch(len(batch))


# -- db_extract -----------------------------------------------------------------------------------------------------
class DbExtract(Step[DbExtractInputs]):
    """Run a query and write its rows to a TSV or JSONL file."""

    inputs_model = DbExtractInputs
    result_keys = frozenset({"output", "format", "rows", "reason"})
    resource_kind = "db"

    def run(self, inputs: DbExtractInputs, ctx: StepContext) -> StepResult:
        fmt = inputs.format.strip().lower()
        if fmt not in ("tsv", "jsonl"):
            raise ValueError(f"Unsupported format: {inputs.format}")
        path = ctx.resolve_path(inputs.output)
        connector = _connector(ctx, inputs.resource)
        tally = RowTally(ctx, "db_extract")
        tally.check()
        columns, batches = _fetch(connector, inputs, ctx)
        try:
            with AtomicOutput(path) as out:
                writer = _write_tsv if fmt == "tsv" else _write_jsonl
                writer(out.binary, columns, batches, tally)
        finally:
            _close(batches)
        output = {"output": str(path), "format": fmt, "rows": tally.rows}
        if tally.rows == 0 and inputs.skip_if_empty:
            return StepResult.skipped("no_rows", output)
        return StepResult.success(output)


# -- db_fetch_small -------------------------------------------------------------------------------------------------
class DbFetchSmall(Step[DbFetchSmallInputs]):
    """Run a query and return its rows in the step output (at most ``max_rows``)."""

    inputs_model = DbFetchSmallInputs
    result_keys = frozenset(
        {"columns", "rows", "row_count", "columns_json", "rows_json", "dtypes", "dtypes_json", "reason"}
    )
    resource_kind = "db"

    def run(self, inputs: DbFetchSmallInputs, ctx: StepContext) -> StepResult:
        connector = _connector(ctx, inputs.resource)
        tally = RowTally(ctx, "db_fetch_small")
        tally.check()
        columns, batches = _fetch(connector, inputs, ctx)
        rows: list[list[Any]] = []
        sniffer = DtypeSniffer(columns)
        try:
            for batch in batches:
                if len(rows) + len(batch) > inputs.max_rows:
                    raise ValueError(
                        f"db_fetch_small exceeded max_rows={inputs.max_rows}. Use db_extract_stream for large results."
                    )
                sniffer.observe(batch)
                rows.extend(list(row) for row in batch)
                tally.batch(len(batch))
        finally:
            _close(batches)
        dtypes = sniffer.dtypes()
        output = {
            "columns": columns,
            "rows": rows,
            "row_count": len(rows),
            "columns_json": json.dumps(columns),
            "rows_json": json.dumps(rows, default=rows_json_default),
            "dtypes": dtypes,
            "dtypes_json": json.dumps(dtypes),
        }
        if not rows and inputs.skip_if_empty:
            return StepResult.skipped("no_rows", output)
        return StepResult.success(output)


# -- db_extract_stream ----------------------------------------------------------------------------------------------
class DbExtractStream(Step[DbExtractStreamInputs]):
    """Stream a query's rows to a CSV, TSV or Parquet file with bounded memory; returns its sha256."""

    inputs_model = DbExtractStreamInputs
    result_keys = frozenset(
        {"artifact_path", "format", "columns", "row_count", "sha256", "dtypes", "dtypes_json", "reason"}
    )
    resource_kind = "db"

    def run(self, inputs: DbExtractStreamInputs, ctx: StepContext) -> StepResult:
        fmt = inputs.format.strip().lower()
        if fmt not in ("tsv", "csv", "parquet"):
            raise ValueError(f"db_extract_stream unsupported format: {inputs.format}")
        given = given_dtypes(inputs)
        options = CsvOptions(inputs, fmt)
        arrow = import_pyarrow() if fmt == "parquet" else None
        path = ctx.resolve_path(inputs.output)
        connector = _connector(ctx, inputs.resource)
        tally = RowTally(ctx, "db_extract_stream")
        tally.check()
        dtypes: dict[str, str] | None = None
        with AtomicOutput(path) as out:
            columns = _copy_out(connector, inputs, options, out, ctx, tally) if arrow is None else None
            if columns is None:
                columns, batches = _fetch(connector, inputs, ctx)
                try:
                    if arrow is not None:
                        dtypes = write_parquet(arrow, out.binary, columns, batches, given, tally)
                    else:
                        dtypes = write_csv(out, options, columns, batches, tally)
                finally:
                    _close(batches)
        output: dict[str, Any] = {
            "artifact_path": str(path),
            "format": fmt,
            "columns": columns,
            "row_count": tally.rows,
            "sha256": out.sha256,
        }
        if inputs.emit_dtypes:
            merged = {**(dtypes or {}), **{k: v for k, v in given.items() if k in columns}}
            output["dtypes"] = merged
            output["dtypes_json"] = json.dumps(merged)
        if tally.rows == 0 and inputs.skip_if_empty:
            return StepResult.skipped("no_rows", output)
        return StepResult.success(output)


def _copy_out(
    connector: DbConnector,
    inputs: DbExtractStreamInputs,
    options: CsvOptions,
    out: AtomicOutput,
    ctx: StepContext,
    tally: RowTally,
) -> list[str] | None:
    """The connector's own CSV export (PostgreSQL COPY) when it has one and its output is the csv writer's; the
    columns, or None when the generic path must run (nothing written then). Its progress is in bytes written."""
    export_csv = getattr(connector, "export_csv", None)
    if inputs.emit_dtypes or not options.copy_compatible or export_csv is None:
        return None
    out.report_bytes(ctx.progress("bytes").part())
    try:
        fast = export_csv(
            inputs.sql,
            inputs.params or {},
            out.binary,
            delimiter=options.delimiter,
            header=options.include_header,
            cancelled=ctx.cancelled,
        )
    finally:
        out.report_bytes(None)
    if fast is None:
        return None
    columns, tally.rows = fast
    return list(columns)
