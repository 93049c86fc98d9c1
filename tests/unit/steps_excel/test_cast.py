"""Type casting of the Excel steps: ``basic`` guesses, ``schema`` casts by column, bad text stays text."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from aetherflow.steps.excel_cast import cast_value, guess_value, row_caster, schema_of


@pytest.mark.parametrize(
    ("text", "dtype", "expected"),
    [
        ("12", "int", 12),
        ("1.5", "float", 1.5),
        ("Y", "bool", True),
        ("no", "bool", False),
        ("2026-02-08", "date", dt.date(2026, 2, 8)),
        ("2026-02-08T10:00:00Z", "datetime", dt.datetime(2026, 2, 8, 10)),
        ("12", "string", "12"),
        ("", "int", None),
        ("twelve", "int", "twelve"),
        ("maybe", "bool", "maybe"),
        ("2026-13-01", "date", "2026-13-01"),
    ],
)
def test_schema_casting_parses_text_and_keeps_what_does_not_parse(text: str, dtype: str, expected: Any) -> None:
    assert cast_value(text, dtype) == expected
    assert type(cast_value(text, dtype)) is type(expected)


def test_typed_values_are_kept_as_they_are() -> None:
    assert [cast_value(v, "string") for v in (3, 2.5, False, dt.date(2026, 1, 1))] == [
        3,
        2.5,
        False,
        dt.date(2026, 1, 1),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", False),
        ("42", 42),
        ("-7", -7),
        ("007", "007"),
        ("1e3", 1000.0),
        ("yes", "yes"),
        ("2026-01-02", dt.date(2026, 1, 2)),
    ],
)
def test_basic_casting_guesses_from_the_text(text: str, expected: Any) -> None:
    assert guess_value(text) == expected
    assert type(guess_value(text)) is type(expected)


def test_schema_casting_without_column_names_leaves_rows_alone() -> None:
    assert row_caster("schema", None, {"a": "int"})(["1"]) == ["1"]
    assert row_caster("schema", ["a", "b"], {"a": "int"})(["1", "2", "extra"]) == [1, "2", "extra"]


def test_dtypes_come_from_a_mapping_or_json_text_and_unknown_ones_are_refused() -> None:
    assert schema_of(None, '{"a": "INT"}') == {"a": "int"}
    assert schema_of({"b": "date"}, '{"a": "int"}') == {"b": "date"}
    with pytest.raises(ValueError, match=r"unknown dtypes \['a: decimal'\]"):
        schema_of({"a": "decimal"}, None)
    with pytest.raises(ValueError, match="dtypes_json is not valid JSON"):
        schema_of(None, "{a: int")
