"""The pieces of the ``runs`` tables: human durations, escaping, display widths and colour."""

from __future__ import annotations

import pytest

from aetherflow.cli.runs_view import clip, duration, escape, human_seconds, table, width, wrap


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.85, "850ms"),
        (0.9996, "1.0s"),
        (12.34, "12.3s"),
        (59.97, "1m00s"),
        (245, "4m05s"),
        (7380, "2h03m"),
        (3599.7, "1h00m"),
    ],
)
def test_durations_read_the_way_a_person_says_them(seconds: float, text: str) -> None:
    assert human_seconds(seconds) == text


def test_a_duration_needs_both_ends() -> None:
    assert duration("2025-03-01T02:00:00.000Z", "2025-03-01T02:04:05.000Z") == "4m05s"
    assert duration("2025-03-01T02:00:00.000Z", None) == "-"
    assert duration("not a time", "2025-03-01T02:04:05.000Z") == "-"


def test_control_characters_are_escaped_and_other_unicode_kept() -> None:
    assert escape("a\nb\tc\x1b[31md\x00e\u2028f ünï 日本") == "a\\nb\\tc\\x1b[31md\\x00e\\u2028f ünï 日本"


def test_wide_characters_count_two_cells_and_cut_values_end_with_an_ellipsis() -> None:
    assert width("日本a") == 5
    assert clip("日本語日本語", 5) == "日本…"
    assert width(clip("x" * 100, 10)) == 10


def test_a_long_error_is_wrapped_within_120_cells_and_nothing_is_lost() -> None:
    text = "日" * 100 + " " + "y" * 300

    lines = wrap(text, "  ")

    assert all(width(line) <= 120 for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


def test_columns_stay_aligned_with_wide_characters_and_colour_only_when_asked() -> None:
    plain = table(["ID", "STATUS", "X"], [["日本", "FAILED", "1"], ["abcd", "SUCCESS", "2"]])
    coloured = table(["ID", "STATUS", "X"], [["日本", "FAILED", "1"]], colour=True)

    assert plain.splitlines() == ["ID    STATUS   X", "日本  FAILED   1", "abcd  SUCCESS  2"]
    assert "\x1b[31mFAILED\x1b[0m" in coloured and "\x1b" not in plain
