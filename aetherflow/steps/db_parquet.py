"""``db_extract_stream`` to Parquet (pyarrow, imported only then): one row group per batch, typed columns."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO

from aetherflow.api import StepFailed
from aetherflow.steps.db_csv import BOOL_TEXT
from aetherflow.steps.db_output import RowTally
from aetherflow.steps.db_values import DtypeSniffer, Row

if TYPE_CHECKING:
    from aetherflow.steps.db import Batches


def import_pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise StepFailed(
            "db_extract_stream format parquet needs pyarrow: "
            "install the 'parquet' extra (pip install 'aetherflow[parquet]')"
        ) from None
    return pyarrow, pyarrow.parquet


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        key = value.strip().lower()
        if key not in BOOL_TEXT:
            raise ValueError(f"not a boolean: {value!r}")
        return BOOL_TEXT[key]
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


def write_parquet(
    arrow: tuple[Any, Any],
    out: BinaryIO,
    columns: list[str],
    batches: Batches,
    given: Mapping[str, str],
    tally: RowTally,
) -> dict[str, str]:
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
    writer = pq.ParquetWriter(out, schema)
    try:

        def write(batch: list[Row]) -> None:
            arrays = [
                _arrow_column(pa, name, dtypes[name], [row[i] for row in batch], tally.rows)
                for i, name in enumerate(columns)
            ]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema), row_group_size=max(len(batch), 1))
            tally.batch(len(batch))

        for batch in pending:
            write(batch)
        pending.clear()
        for batch in batches:
            write(batch)
    finally:
        writer.close()
    return dtypes
