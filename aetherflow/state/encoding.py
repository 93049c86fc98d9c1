"""How a value becomes the JSON text the state store keeps: standard JSON only, and no digit lost.

Floats and Decimals that are not numbers (NaN, ±Infinity) become the strings ``"NaN"``, ``"Infinity"`` and
``"-Infinity"`` (JSON has no such numbers); a Decimal is a JSON number when a float holds it exactly, else its exact
decimal text. Dates become ISO 8601 text, bytes base64, paths and anything else their ``str()``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

_NOT_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


class CircularValue(ValueError):
    """A container holds itself (directly or deeper down): it has no JSON text."""


def encode_json(value: Any, transform: Callable[[Any], Any] | None = None) -> str:
    """``value`` as standard JSON text; raises CircularValue (a value containing itself) or RecursionError.

    ``transform`` (redaction) gets the plain copy, so that it sees only JSON types and no cycle.
    """
    data = plain(value)
    return json.dumps(transform(data) if transform is not None else data, ensure_ascii=False, allow_nan=False)


def plain(value: Any) -> Any:
    """A copy of ``value`` made of dict, list, str, int, float (finite), bool and None only."""
    return _plain(value, set())


def _plain(value: Any, open_ids: set[int]) -> Any:
    """A copy made of dict, list, str, int, float, bool and None only (``open_ids``: the containers being walked)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _NOT_FINITE[repr(value)]
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        key = id(value)
        if key in open_ids:
            raise CircularValue(f"a {type(value).__name__} contains itself")
        open_ids.add(key)
        try:
            if isinstance(value, Mapping):
                return {_key(k): _plain(v, open_ids) for k, v in value.items()}
            return [_plain(v, open_ids) for v in value]
        finally:
            open_ids.discard(key)
    return _plain(_scalar(value), open_ids)


def _decimal(value: Decimal) -> Any:
    if value.is_nan():
        return "NaN"
    if value.is_infinite():
        return "-Infinity" if value < 0 else "Infinity"
    as_float = float(value)
    if not math.isfinite(as_float) or Decimal(repr(as_float)) != value:
        return str(value)  # a float would lose digits (or overflow): the exact text
    return int(value) if value == value.to_integral_value() else as_float


def _key(key: Any) -> str | int | float | bool | None:
    if key is None or isinstance(key, str | bool | int):
        return key
    plain = _plain(key, set())
    return plain if isinstance(plain, str | int | float) else str(key)


def _scalar(value: Any) -> Any:
    import base64
    import dataclasses
    import datetime
    import pathlib

    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, pathlib.PurePath):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    return str(value)
