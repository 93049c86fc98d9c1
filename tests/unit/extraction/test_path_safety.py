"""The one path-safety check (``safe_join``) and the written-bytes budget every extraction uses."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from aetherflow.api import ArchiveLimits, ArchiveMember, ArchiveRefused, WriteBudget, check_members, safe_join
from aetherflow.errors import error_text, is_permanent


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../x", "parent traversal"),
        ("a/../../x", "parent traversal"),
        ("..", "parent traversal"),
        ("a\\..\\..\\x", "parent traversal"),
        ("/etc/passwd", "absolute path"),
        ("\\\\server\\share\\x", "absolute path"),
        ("C:\\x", "absolute path"),
        ("c:x", "absolute path"),
        ("a\x00b", "NUL in name"),
    ],
)
def test_a_name_that_leaves_the_root_is_refused_with_its_reason(tmp_path: Path, name: str, reason: str) -> None:
    with pytest.raises(ArchiveRefused) as caught:
        safe_join(tmp_path, name)

    assert (caught.value.entry, caught.value.reason) == (name, reason)


@pytest.mark.parametrize(
    ("name", "rel"),
    [
        ("a/b.txt", "a/b.txt"),
        ("./a/./b", "a/b"),
        ("a\\b", "a/b"),
        ("...", "..."),
        ("..a/b..", "..a/b.."),
        ("", "."),
        ("é/\u2028/名前", "é/\u2028/名前"),
    ],
)
def test_a_name_inside_the_root_joins_under_it(tmp_path: Path, name: str, rel: str) -> None:
    assert safe_join(tmp_path, name) == (tmp_path / rel if rel != "." else tmp_path)


def test_a_refusal_is_recorded_as_a_value_error_and_never_retried() -> None:
    error = ArchiveRefused("parent traversal", entry="../x").about("unzip", "/in/a.zip")

    assert error_text(error) == "ValueError: unzip refused unsafe entry '../x' in /in/a.zip: parent traversal"
    assert isinstance(error, ValueError)
    assert is_permanent(error)


def test_an_entry_longer_than_it_declared_is_stopped_while_writing() -> None:
    sink = io.BytesIO()

    with pytest.raises(ArchiveRefused, match="larger than its declared size of 10 bytes"):
        WriteBudget(ArchiveLimits()).copy(io.BytesIO(b"x" * (3 << 20)), sink, entry="liar.bin", declared=10)

    assert sink.getvalue() == b""  # the chunk that went past the declared size was not written


def test_an_archive_writing_past_max_total_mb_is_stopped_while_writing() -> None:
    budget = WriteBudget(ArchiveLimits(max_total_mb=2))
    budget.copy(io.BytesIO(bytes(1 << 20)), io.BytesIO(), entry="a", declared=None)

    with pytest.raises(ArchiveRefused, match="more than 2097152 bytes written"):
        budget.copy(io.BytesIO(bytes((1 << 20) + 1)), io.BytesIO(), entry="b", declared=None)


@pytest.mark.parametrize(
    ("kind", "reason"), [("symlink", "symlink"), ("hardlink", "hard link"), ("special", "special file")]
)
def test_links_and_special_files_are_refused(kind: str, reason: str) -> None:
    with pytest.raises(ArchiveRefused) as caught:
        check_members([ArchiveMember("x", 0, 0, kind)], ArchiveLimits())

    assert caught.value.reason == reason


def test_a_compressed_tar_is_ratio_checked_against_the_archive_size() -> None:
    members = [ArchiveMember(f"f{i}", 1 << 20, None) for i in range(10)]

    with pytest.raises(ArchiveRefused, match="compression ratio 1024 exceeds max_ratio 200"):
        check_members(members, ArchiveLimits(), archive_size=10 << 10)
    check_members(members, ArchiveLimits(), archive_size=1 << 20)
