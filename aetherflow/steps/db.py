"""Database steps (kind ``db``): ``db_extract``, ``db_fetch_small``, ``db_extract_stream``.

See docs/reference/steps/database.md.

Each reaches its resource's connector through ``ctx.connector(resource, kind="db")`` and uses only the DB primitives
every DB connector offers: ``fetch_batches(sql, params, fetch_size) -> (columns, batches of row tuples)``, plus the
optional ``export_csv`` fast path of ``db:sqlalchemy`` on PostgreSQL. Rows are streamed batch by batch,
``ctx.cancelled`` is checked between batches, and output files are written to ``<name>.tmp`` (fsynced) and renamed
into place: a failed or stopped step leaves neither a half-written output nor the temporary file behind.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import inspect
import io
import json
import os
from collections.abc import Callable, Generator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Literal, Protocol

from pydantic import Field

from aetherflow.api import CancelToken, Inputs, Interrupted, Step, StepContext, StepFailed, StepResult
from aetherflow.steps._allowed import one_of

Row = Sequence[Any]
Batches = Generator[list[Row], None, None]

#: rows looked at to infer a column's dtype (first non-null value)
DTYPE_SAMPLE_ROWS = 200
_BUFFER_SIZE = 1 << 20


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


# -- atomic output --------------------------------------------------------------------------------------------------
class _HashingFileIO(io.FileIO):
    """A raw file that hashes exactly the bytes it writes (so the artifact's sha256 costs no second read)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "w")
        self.sha256 = hashlib.sha256()

    def write(self, data: Any) -> int:
        written = super().write(data)
        if written:
            self.sha256.update(memoryview(data)[:written])
        return written or 0


class AtomicOutput:
    """Write ``path`` through ``<name>.tmp``: fsync and rename on success, delete the temporary file on failure."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        self._raw: _HashingFileIO | None = None
        self.binary: BinaryIO = io.BytesIO()
        self.sha256 = ""

    def __enter__(self) -> AtomicOutput:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._raw = _HashingFileIO(self.tmp)
        self.binary = io.BufferedWriter(self._raw, buffer_size=_BUFFER_SIZE)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        raw = self._raw
        assert raw is not None
        if exc_type is not None:
            self._discard(raw)
            return
        try:
            self.binary.flush()
            # Durable before it becomes visible: a resumed run trusts a renamed artifact.
            os.fsync(raw.fileno())
            self.sha256 = raw.sha256.hexdigest()
            self.binary.close()
            os.replace(self.tmp, self.path)
        except BaseException:
            self._discard(raw)
            raise
        _fsync_dir(self.path.parent)

    def _discard(self, raw: _HashingFileIO) -> None:
        try:
            self.binary.close()
        except OSError:
            raw.close()
        self.tmp.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- values ---------------------------------------------------------------------------------------------------------
def dtype_of(value: Any) -> str:
    """The spec's dtype name for a Python value (Decimal counts as float, datetime before date)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float | Decimal):
        return "float"
    if isinstance(value, dt.datetime):
        return "datetime"
    if isinstance(value, dt.date):
        return "date"
    return "string"


class DtypeSniffer:
    """Column dtypes from the first non-null value of each column among the first ``DTYPE_SAMPLE_ROWS`` rows."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = list(columns)
        self._found: dict[int, str] = {}
        self._seen = 0

    @property
    def done(self) -> bool:
        """True once the sample is complete (or every column is typed)."""
        return self._seen >= DTYPE_SAMPLE_ROWS or len(self._found) == len(self.columns)

    def observe(self, batch: Sequence[Row]) -> None:
        """Look at the rows of ``batch`` that still belong to the sample."""
        if self.done:
            return
        for row in batch[: DTYPE_SAMPLE_ROWS - self._seen]:
            for index, value in enumerate(row):
                if value is not None and index not in self._found:
                    self._found[index] = dtype_of(value)
        self._seen += min(len(batch), DTYPE_SAMPLE_ROWS - self._seen)

    def dtypes(self) -> dict[str, str]:
        """Column -> dtype; columns with no non-null value in the sample are ``string``."""
        return {name: self._found.get(i, "string") for i, name in enumerate(self.columns)}


def _json_number(value: Decimal) -> int | float:
    if value.is_finite() and value == value.to_integral_value() and int(value.as_tuple().exponent) >= 0:
        return int(value)
    return float(value)


def _json_default(value: Any) -> Any:
    """JSON for the values drivers return: Decimal as a number, dates/times as ISO text, bytes as hex."""
    if isinstance(value, Decimal):
        return _json_number(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


def _rows_json_default(value: Any) -> Any:
    """``db_fetch_small`` ``rows_json``: Decimal -> float, date/datetime -> ISO text."""
    if isinstance(value, Decimal):
        return float(value)
    return _json_default(value)


def _check_cancelled(cancelled: CancelToken, step: str, rows: int) -> None:
    if cancelled.is_set():
        raise Interrupted(f"{step} stopped after {rows} row(s): stop requested")


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
class LineBuffer(list[str]):
    """What the csv writers write one batch of lines into: ``write`` is ``list.append`` (no per-row I/O call);
    the batch is then encoded and written at once, which beats a ``TextIOWrapper`` on the hot path (bench/db.py)."""

    __slots__ = ()
    write = list.append

    def flush_to(self, out: BinaryIO, encoding: str) -> None:
        """Encode and write the collected lines, then forget them."""
        if self:
            out.write("".join(self).encode(encoding))
            self.clear()


def _write_tsv(out: BinaryIO, columns: list[str], batches: Batches, step: str, cancelled: CancelToken) -> int:
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
    rows = 0
    for batch in batches:
        for row in batch:
            try:
                writerow(row)
            except csv.Error:
                lines.append("\t".join("" if v is None else str(v) for v in row) + "\n")
        lines.flush_to(out, "utf-8")
        rows += len(batch)
        _check_cancelled(cancelled, step, rows)
    lines.flush_to(out, "utf-8")
    return rows


def _write_jsonl(out: BinaryIO, columns: list[str], batches: Batches, step: str, cancelled: CancelToken) -> int:
    encode = json.JSONEncoder(ensure_ascii=False, default=_json_default).encode
    rows = 0
    for batch in batches:
        text = "".join(encode(dict(zip(columns, row, strict=False))) + "\n" for row in batch)
        out.write(text.encode("utf-8"))
        rows += len(batch)
        _check_cancelled(cancelled, step, rows)
    return rows


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
        _check_cancelled(ctx.cancelled, "db_extract", 0)
        columns, batches = _fetch(connector, inputs, ctx)
        try:
            with AtomicOutput(path) as out:
                writer = _write_tsv if fmt == "tsv" else _write_jsonl
                rows = writer(out.binary, columns, batches, "db_extract", ctx.cancelled)
        finally:
            _close(batches)
        output = {"output": str(path), "format": fmt, "rows": rows}
        if rows == 0 and inputs.skip_if_empty:
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
        _check_cancelled(ctx.cancelled, "db_fetch_small", 0)
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
                _check_cancelled(ctx.cancelled, "db_fetch_small", len(rows))
        finally:
            _close(batches)
        dtypes = sniffer.dtypes()
        output = {
            "columns": columns,
            "rows": rows,
            "row_count": len(rows),
            "columns_json": json.dumps(columns),
            "rows_json": json.dumps(rows, default=_rows_json_default),
            "dtypes": dtypes,
            "dtypes_json": json.dumps(dtypes),
        }
        if not rows and inputs.skip_if_empty:
            return StepResult.skipped("no_rows", output)
        return StepResult.success(output)


# -- db_extract_stream ----------------------------------------------------------------------------------------------
_QUOTING: dict[str, Literal[0, 1, 2, 3]] = {
    "minimal": csv.QUOTE_MINIMAL,
    "all": csv.QUOTE_ALL,
    "none": csv.QUOTE_NONE,
    "nonnumeric": csv.QUOTE_NONNUMERIC,
}
_CSV_KEYS = ("encoding", "delimiter", "quotechar", "escapechar", "doublequote", "quoting", "linefeed", "include_header")
_BOOL_TEXT = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _BOOL_TEXT:
        return _BOOL_TEXT[value.strip().lower()]
    raise ValueError(f"db_extract_stream {key} must be a boolean (true/false), got {value!r}")


class CsvOptions:
    """The effective CSV options of ``db_extract_stream``: top-level keys over ``file:`` keys over defaults."""

    def __init__(self, inputs: DbExtractStreamInputs, fmt: str) -> None:
        nested = dict(inputs.file or {})
        unknown = sorted(set(nested) - set(_CSV_KEYS))
        if unknown:
            raise ValueError(f"db_extract_stream file: unknown key(s) {unknown}; allowed: {list(_CSV_KEYS)}")
        given = inputs.model_fields_set

        def pick(key: str) -> Any:
            if key in given or key not in nested:
                return getattr(inputs, key)
            return nested[key]

        self.encoding = str(pick("encoding"))
        delimiter = pick("delimiter")
        self.delimiter = ("\t" if fmt == "tsv" else ",") if delimiter is None else str(delimiter)
        quotechar = pick("quotechar")
        self.quotechar = None if quotechar is None else str(quotechar)
        escapechar = pick("escapechar")
        self.escapechar = None if escapechar in (None, "") else str(escapechar)
        self.doublequote = _as_bool("doublequote", pick("doublequote"))
        self.include_header = _as_bool("include_header", pick("include_header"))
        quoting = str(pick("quoting")).strip().lower()
        if quoting not in _QUOTING:
            raise ValueError(f"db_extract_stream unsupported quoting: {quoting}. Use one of: {', '.join(_QUOTING)}")
        self.quoting = quoting
        self.linefeed = str(pick("linefeed"))
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ValueError(f"db_extract_stream unknown encoding: {self.encoding}") from None

    def writer(self, target: Any) -> Any:
        """A ``csv.writer`` with these options; a bad combination is a ValueError naming the options."""
        try:
            return csv.writer(
                target,
                delimiter=self.delimiter,
                quotechar=self.quotechar,
                escapechar=self.escapechar,
                doublequote=self.doublequote,
                quoting=_QUOTING[self.quoting],
                lineterminator=self.linefeed,
            )
        except (TypeError, csv.Error) as exc:
            raise ValueError(f"db_extract_stream invalid CSV options: {exc}") from None

    @property
    def copy_compatible(self) -> bool:
        """Whether PostgreSQL COPY's CSV output is byte-identical to the csv writer's with these options."""
        return (
            self.quoting == "minimal"
            and self.quotechar == '"'
            and self.escapechar is None
            and self.doublequote
            and self.linefeed == "\n"
            and codecs.lookup(self.encoding).name == "utf-8"  # not utf-8-sig: COPY writes no BOM
        )


def _given_dtypes(inputs: DbExtractStreamInputs) -> dict[str, str]:
    raw: Any = inputs.dtypes
    if raw is None and inputs.dtypes_json not in (None, ""):
        try:
            raw = json.loads(str(inputs.dtypes_json))
        except json.JSONDecodeError as exc:
            raise ValueError(f"dtypes_json is not valid JSON: {exc}") from None
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ValueError("dtypes must be a dict (mapping column -> type)")
    return {str(k): str(v).strip().lower() for k, v in raw.items()}


def _import_pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise StepFailed(
            "db_extract_stream format parquet needs pyarrow: "
            "install the 'parquet' extra (pip install 'aetherflow[parquet]')"
        ) from None
    return pyarrow, pyarrow.parquet


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
        given = _given_dtypes(inputs)
        options = CsvOptions(inputs, fmt)
        arrow = _import_pyarrow() if fmt == "parquet" else None
        path = ctx.resolve_path(inputs.output)
        connector = _connector(ctx, inputs.resource)
        _check_cancelled(ctx.cancelled, "db_extract_stream", 0)
        dtypes: dict[str, str] | None = None
        with AtomicOutput(path) as out:
            fast = None
            export_csv = getattr(connector, "export_csv", None)
            if fmt != "parquet" and not inputs.emit_dtypes and options.copy_compatible and export_csv is not None:
                fast = export_csv(
                    inputs.sql,
                    inputs.params or {},
                    out.binary,
                    delimiter=options.delimiter,
                    header=options.include_header,
                    cancelled=ctx.cancelled,
                )
            if fast is not None:
                columns, rows = fast
            else:
                columns, batches = _fetch(connector, inputs, ctx)
                try:
                    if arrow is not None:
                        rows, dtypes = _write_parquet(arrow, out.binary, columns, batches, given, ctx.cancelled)
                    else:
                        rows, dtypes = self._write_csv(out, options, columns, batches, ctx.cancelled)
                finally:
                    _close(batches)
        output: dict[str, Any] = {
            "artifact_path": str(path),
            "format": fmt,
            "columns": columns,
            "row_count": rows,
            "sha256": out.sha256,
        }
        if inputs.emit_dtypes:
            merged = {**(dtypes or {}), **{k: v for k, v in given.items() if k in columns}}
            output["dtypes"] = merged
            output["dtypes_json"] = json.dumps(merged)
        if rows == 0 and inputs.skip_if_empty:
            return StepResult.skipped("no_rows", output)
        return StepResult.success(output)

    @staticmethod
    def _write_csv(
        out: AtomicOutput, options: CsvOptions, columns: list[str], batches: Batches, cancelled: CancelToken
    ) -> tuple[int, dict[str, str]]:
        lines = LineBuffer()
        writer = options.writer(lines)
        if options.include_header and columns:
            writer.writerow(columns)
        writerows = writer.writerows
        sniffer = DtypeSniffer(columns)
        rows = 0
        for batch in batches:
            if not sniffer.done:
                sniffer.observe(batch)
            writerows(batch)
            lines.flush_to(out.binary, options.encoding)
            rows += len(batch)
            _check_cancelled(cancelled, "db_extract_stream", rows)
        lines.flush_to(out.binary, options.encoding)
        return rows, sniffer.dtypes()


# -- parquet --------------------------------------------------------------------------------------------------------
def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        key = value.strip().lower()
        if key not in _BOOL_TEXT:
            raise ValueError(f"not a boolean: {value!r}")
        return _BOOL_TEXT[key]
    return bool(value)


def _to_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _to_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    return dt.datetime.fromisoformat(str(value))


def _to_int(value: Any) -> int:
    return int(value) if not isinstance(value, str) else int(value.strip())


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "int": _to_int,
    "float": float,
    "bool": _to_bool,
    "date": _to_date,
    "datetime": _to_datetime,
}


def _arrow_type(pa: Any, dtype: str) -> Any:
    return {
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "date": pa.date32(),
        "datetime": pa.timestamp("ms"),
    }.get(dtype, pa.string())


def _arrow_column(pa: Any, name: str, dtype: str, values: list[Any], first_row: int) -> Any:
    convert = _CONVERTERS.get(dtype)
    if convert is None:
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())
    converted: list[Any] = []
    for offset, value in enumerate(values):
        if value is None or value == "":
            converted.append(None)
            continue
        try:
            converted.append(convert(value))
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise ValueError(
                f"db_extract_stream: column '{name}' row {first_row + offset + 1}: cannot convert a "
                f"{type(value).__name__} value to {dtype} ({exc})"
            ) from None
    return pa.array(converted, type=_arrow_type(pa, dtype))


def _write_parquet(
    arrow: tuple[Any, Any],
    out: BinaryIO,
    columns: list[str],
    batches: Batches,
    given: Mapping[str, str],
    cancelled: CancelToken,
) -> tuple[int, dict[str, str]]:
    """Row groups of one batch each; dtypes from ``given``, else inferred from the first rows (held until known)."""
    pa, pq = arrow
    sniffer = DtypeSniffer(columns)
    pending: list[list[Row]] = []
    for batch in batches:
        sniffer.observe(batch)
        pending.append(batch)
        if sniffer.done:
            break
    dtypes = {**sniffer.dtypes(), **{k: v for k, v in given.items() if k in columns}}
    schema = pa.schema([(name, _arrow_type(pa, dtypes[name])) for name in columns])
    rows = 0
    writer = pq.ParquetWriter(out, schema)
    try:

        def write(batch: list[Row]) -> None:
            nonlocal rows
            arrays = [
                _arrow_column(pa, name, dtypes[name], [row[i] for row in batch], rows) for i, name in enumerate(columns)
            ]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema), row_group_size=max(len(batch), 1))
            rows += len(batch)
            _check_cancelled(cancelled, "db_extract_stream", rows)

        for batch in pending:
            write(batch)
        pending.clear()
        for batch in batches:
            write(batch)
    finally:
        writer.close()
    return rows, dtypes
