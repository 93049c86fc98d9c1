"""Counting a source file's data rows before a report region is filled."""

from __future__ import annotations

from pathlib import Path

import pytest

from aetherflow.steps import excel_source
from aetherflow.steps.excel_source import SourceFile


def _source(tmp_path: Path, data: bytes, **options: str) -> SourceFile:
    path = tmp_path / "d.csv"
    path.write_bytes(data)
    return SourceFile(path, "csv", **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "expected"),
    [(b"", 0), (b"h\n", 0), (b"h\n1\n2\n", 2), (b"h\n1\n2", 2), (b"h\n\n", 1)],
)
def test_fast_counting_counts_lines_without_the_header(tmp_path: Path, data: bytes, expected: int) -> None:
    assert _source(tmp_path, data).count("fast", read_header=True) == expected


def test_fast_counting_miscounts_quoted_line_breaks_and_csv_parse_does_not(tmp_path: Path) -> None:
    source = _source(tmp_path, b'a,b\n1,"hello\nworld"\n')

    assert (source.count("fast", True), source.count("csv_parse", True)) == (2, 1)


def test_a_two_byte_linefeed_split_across_read_chunks_is_counted_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(excel_source, "_CHUNK", 3)
    source = _source(tmp_path, b"ab\r\ncd\r\nef\r\n", linefeed="\r\n")

    assert source.count("fast", read_header=False) == 3


def test_fast_counting_refuses_wide_encodings(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="use count_mode: csv_parse"):
        _source(tmp_path, "h\n".encode("utf-16"), encoding="utf-16").count("fast", True)
