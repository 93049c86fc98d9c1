"""Type casting of the values the Excel steps write: ``none``, ``basic`` (guess from text) or ``schema`` (by column).

Values that are already typed (numbers, booleans, dates) are kept; text that does not parse as the wanted type is
written as text rather than failing the report. Only the standard library: no openpyxl needed here.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

DTYPES = ("string", "int", "float", "bool", "date", "datetime")
_TRUE = frozenset({"1", "true", "t", "yes", "y"})
_FALSE = frozenset({"0", "false", "f", "no", "n"})
_TYPED = (int, float, bool, dt.date, dt.datetime)
# an integer without a leading zero: "007" is an identifier, kept as text
_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")


def parse_json_text(value: Any, what: str) -> Any:
    """``value`` itself, or the JSON it holds when it is text (rendered templates are text)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} is not valid JSON: {exc}") from None


def schema_of(dtypes: Any, dtypes_json: Any) -> dict[str, str]:
    """Column -> dtype from ``dtypes`` (a mapping or JSON text), else ``dtypes_json``; unknown dtypes are errors."""
    raw = parse_json_text(dtypes, "dtypes")
    if raw is None:
        raw = parse_json_text(dtypes_json, "dtypes_json")
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ValueError(f"dtypes must be a mapping of column -> dtype, got {type(raw).__name__}")
    schema = {str(k): str(v).strip().lower() for k, v in raw.items()}
    bad = sorted(f"{k}: {v}" for k, v in schema.items() if v not in DTYPES)
    if bad:
        raise ValueError(f"unknown dtypes {bad}; use one of: {', '.join(DTYPES)}")
    return schema


def _datetime(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text[:-1] if text.endswith("Z") else text)
    except ValueError:
        return None


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _bool(text: str) -> bool | None:
    low = text.strip().lower()
    return True if low in _TRUE else False if low in _FALSE else None


def cast_value(value: Any, dtype: str) -> Any:
    """``value`` as ``dtype``; empty text is an empty cell, text that does not parse stays text."""
    if value is None or isinstance(value, _TYPED):
        return value
    text = str(value)
    if text == "":
        return None
    parsed: Any = None
    if dtype == "int":
        try:
            parsed = int(text)
        except ValueError:
            parsed = None
    elif dtype == "float":
        try:
            parsed = float(text)
        except ValueError:
            parsed = None
    elif dtype == "bool":
        parsed = _bool(text)
    elif dtype == "date":
        parsed = _date(text)
    elif dtype == "datetime":
        parsed = _datetime(text)
    return text if parsed is None else parsed


def guess_value(value: Any) -> Any:
    """``basic`` casting: booleans, integers without a leading zero, decimals, ISO datetimes and dates."""
    if value is None or isinstance(value, _TYPED):
        return value
    text = str(value)
    if text == "":
        return None
    low = text.strip().lower()
    if low in ("true", "false", "1", "0"):
        return low in ("true", "1")
    if _INTEGER.fullmatch(text):
        return int(text)
    if "." in text or "e" in low:
        try:
            return float(text)
        except ValueError:
            pass
    moment = _datetime(text) if "T" in text or " " in text.strip() else None
    if moment is not None:
        return moment
    day = _date(text)
    return day if day is not None else text


def row_caster(mode: str, columns: Sequence[str] | None, schema: Mapping[str, str]) -> Callable[[list[Any]], list[Any]]:
    """The function casting one row under ``mode``; ``schema`` casting without column names keeps rows as they are."""
    if mode == "basic":
        return lambda row: [guess_value(v) for v in row]
    if mode == "schema" and schema and columns:
        kinds = [schema.get(str(name), "string") for name in columns]
        return lambda row: [cast_value(v, kinds[i]) if i < len(kinds) else v for i, v in enumerate(row)]
    return lambda row: row
