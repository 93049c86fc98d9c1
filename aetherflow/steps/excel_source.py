"""Reading the source files of ``excel_fill_from_file``: CSV/TSV rows (csv module) or Parquet rows (pyarrow, lazily),
and counting their data rows before anything is written (``count_mode`` ``fast`` or ``csv_parse``)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aetherflow.api import StepFailed

_QUOTING = {
    "minimal": csv.QUOTE_MINIMAL,
    "all": csv.QUOTE_ALL,
    "none": csv.QUOTE_NONE,
    "nonnumeric": csv.QUOTE_NONNUMERIC,
}
FORMATS = ("csv", "tsv", "parquet")
_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A source file and how to read it."""

    path: Path
    fmt: str
    encoding: str = "utf-8"
    delimiter: str | None = None
    quotechar: str = '"'
    escapechar: str | None = None
    doublequote: bool = True
    quoting: str = "minimal"
    linefeed: str = "\n"

    def _reader_options(self) -> dict[str, Any]:
        quoting = _QUOTING.get(self.quoting.strip().lower())
        if quoting is None:
            raise ValueError(f"unknown quoting '{self.quoting}'; use one of: {', '.join(_QUOTING)}")
        delimiter = self.delimiter if self.delimiter is not None else ("\t" if self.fmt == "tsv" else ",")
        return {
            "delimiter": delimiter,
            "quotechar": self.quotechar,
            "escapechar": self.escapechar,
            "doublequote": self.doublequote,
            "quoting": quoting,
        }

    def rows(self, read_header: bool) -> tuple[list[str] | None, Iterator[list[Any]]]:
        """(header or None, the data rows); the header is the first line of a CSV, the schema of a Parquet file."""
        if self.fmt == "parquet":
            return _parquet_rows(self.path, read_header)
        options = self._reader_options()
        rows = _csv_rows(self.path, self.encoding, options)
        if not read_header:
            return None, rows
        return next(rows, None), rows

    def count(self, mode: str, read_header: bool) -> int:
        """The number of data rows, without the header line when ``read_header``."""
        if self.fmt == "parquet":
            return int(_parquet_file(self.path).metadata.num_rows)
        if mode == "csv_parse":
            total = sum(1 for _ in _csv_rows(self.path, self.encoding, self._reader_options()))
        else:
            total = self._count_lines()
        return max(0, total - (1 if read_header else 0))

    def _count_lines(self) -> int:
        """Records counted as linefeeds (one record per line assumed), plus an unterminated last line."""
        if self.encoding.lower().replace("_", "-").startswith(("utf-16", "utf-32")):
            raise ValueError("count_mode fast cannot count utf-16/utf-32 files; use count_mode: csv_parse")
        needle = (self.linefeed or "\n").encode("utf-8")
        count, tail, last = 0, b"", b""
        with self.path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                buf = tail + chunk
                count += buf.count(needle)
                # keep the bytes a linefeed split across chunks needs, without counting one twice
                tail = buf[-(len(needle) - 1) :] if len(needle) > 1 and not buf.endswith(needle) else b""
                last = buf[-len(needle) :]
        if last and last != needle:
            count += 1
        return count


def _csv_rows(path: Path, encoding: str, options: dict[str, Any]) -> Iterator[list[Any]]:
    try:
        with path.open(encoding=encoding, newline="") as fh:
            yield from csv.reader(fh, **options)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not valid {encoding} text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise ValueError(f"{path} is not valid CSV: {exc}") from None


def _parquet_file(path: Path) -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise StepFailed(
            "excel_fill_from_file source_format parquet needs pyarrow: "
            "install the 'parquet' extra (pip install 'aetherflow[parquet]')"
        ) from None
    try:
        return pq.ParquetFile(path)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable Parquet file: {exc}") from None


def _parquet_rows(path: Path, read_header: bool) -> tuple[list[str] | None, Iterator[list[Any]]]:
    pf = _parquet_file(path)
    names = list(pf.schema_arrow.names)

    def rows() -> Iterator[list[Any]]:
        for batch in pf.iter_batches():
            columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            yield from (list(values) for values in zip(*columns, strict=True))

    return (names if read_header else None), rows()
