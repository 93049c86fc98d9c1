"""Values of DB rows: the dtype names of the outputs (``dtypes``) and how values become JSON."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

Row = Sequence[Any]

#: rows looked at to infer a column's dtype (first non-null value)
DTYPE_SAMPLE_ROWS = 200


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


def json_default(value: Any) -> Any:
    """JSON for the values drivers return: Decimal as a number, dates/times as ISO text, bytes as hex."""
    if isinstance(value, Decimal):
        return _json_number(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


def rows_json_default(value: Any) -> Any:
    """``db_fetch_small`` ``rows_json``: Decimal -> float, date/datetime -> ISO text."""
    if isinstance(value, Decimal):
        return float(value)
    return json_default(value)
