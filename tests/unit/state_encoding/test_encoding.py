"""The JSON text of stored documents: standard JSON for hostile values, and the errors of values that have none."""

from __future__ import annotations

import datetime
import json
import pathlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from aetherflow.errors import OutputError, OutputTooLarge
from aetherflow.redaction import Redactor
from aetherflow.runner.outputs import OutputDocuments
from aetherflow.state.encoding import CircularValue, encode_json


def _strict(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"non-standard constant {name}")

    return json.loads(text, parse_constant=refuse)


@dataclass
class Point:
    x: Decimal
    y: float


def test_hostile_strings_survive_a_round_trip() -> None:
    value = {'k\x00\n"\\': "\x00\u2028\ud83d\ude00 'quoted' \\ \n", "ü": ["\t"]}

    assert _strict(encode_json(value)) == value


def test_non_json_types_take_their_documented_forms() -> None:
    value = {
        "when": datetime.date(2025, 3, 1),
        "bytes": b"\x00\xff",
        "path": pathlib.PurePosixPath("/a/b"),
        "point": Point(Decimal("1e400"), float("-inf")),
        "tuple": (1, Decimal("0.5")),
        1: "int key",
        Decimal("2.5"): "decimal key",
    }

    assert _strict(encode_json(value)) == {
        "when": "2025-03-01",
        "bytes": "AP8=",
        "path": "/a/b",
        "point": {"x": "1E+400", "y": "-Infinity"},
        "tuple": [1, 0.5],
        "1": "int key",
        "2.5": "decimal key",
    }


@pytest.mark.parametrize(
    ("decimal", "stored"),
    [
        ("42", 42),
        ("-0.25", -0.25),
        ("0.1", 0.1),
        ("12345678901234567890", "12345678901234567890"),
        ("0.10000000000000000001", "0.10000000000000000001"),
        ("1E+100000", "1E+100000"),
        ("-sNaN", "NaN"),
    ],
)
def test_a_decimal_is_a_number_only_when_a_float_holds_it_exactly(decimal: str, stored: Any) -> None:
    assert _strict(encode_json([Decimal(decimal)])) == [stored]


def test_a_value_that_contains_itself_deep_down_has_no_json_text() -> None:
    inner: list[Any] = []
    value = {"a": [{"b": inner}]}
    inner.append(value)

    with pytest.raises(CircularValue):
        encode_json(value)


def test_the_same_value_twice_side_by_side_is_not_a_cycle() -> None:
    shared = {"n": 1}

    assert _strict(encode_json({"a": shared, "b": [shared, shared]})) == {"a": {"n": 1}, "b": [{"n": 1}, {"n": 1}]}


def test_a_document_nested_deeper_than_the_interpreter_allows_fails_as_an_output_error() -> None:
    value: Any = []
    for _ in range(100_000):
        value = [value]

    with pytest.raises(OutputError, match="outputs of step a/s are nested too deeply"):
        OutputDocuments(Redactor(), 1 << 20).encode(value, "outputs of step a/s")


def test_the_size_limit_counts_utf8_bytes_of_the_redacted_text() -> None:
    docs = OutputDocuments(Redactor(), 21)

    assert docs.encode({"t": "é" * 6}, "d") == '{"t": "éééééé"}'
    with pytest.raises(OutputTooLarge, match=r"^d are 23 bytes, over AETHERFLOW_STATE_MAX_OUTPUT_BYTES=21$"):
        docs.encode({"t": "é" * 7}, "d")


def test_a_snapshot_does_not_follow_later_changes_of_the_original() -> None:
    live: dict[str, Any] = {"n": [1]}
    copy = OutputDocuments(Redactor(), 100).snapshot({"all": live}, "d")
    live["n"].append(2)
    live["m"] = live

    assert copy == {"all": {"n": [1]}}
