"""The ``unzip`` step (steps.md §8): layout, members, overwrite, and refusal of unsafe or corrupt archives."""

from __future__ import annotations

import re
import stat
import zipfile
from pathlib import Path

import pytest

from aetherflow.api import ConnectorError, InvalidValue
from tests.integration.archive.conftest import ArchiveHarness


def make_zip(path: Path, entries: dict[str, str], *, symlinks: dict[str, str] | None = None) -> Path:
    """A zip with exactly these entry names (zipfile.writestr keeps names as given, '/' and '..' included)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in entries.items():
            zf.writestr(name, content)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3  # Unix: external_attr carries the mode bits
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


def tree(root: Path) -> list[str]:
    """Every path under ``root`` (hidden staging directories included), relative, sorted."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) if root.exists() else []


def test_unzip_mirrors_the_archive_place_under_src_dir(harness: ArchiveHarness) -> None:
    make_zip(harness.artifacts / "in/sub/x.zip", {"a.txt": "A", "d/b.txt": "B"})

    result = harness.run("unzip", archives=["in/sub/x.zip"], dest_dir="out", src_dir="in")

    out = harness.artifacts / "out"
    assert tree(out) == ["sub", "sub/a.txt", "sub/d", "sub/d/b.txt"]
    assert result.output == {
        "unzipped": [
            {"dest_dir": str(out / "sub"), "files": ["a.txt", "d/b.txt"], "password": False, "driver": "zipfile"}
        ],
        "dest_dir": str(out),
    }


def test_private_zip_folder_extracts_into_a_folder_named_after_the_archive(harness: ArchiveHarness) -> None:
    make_zip(harness.artifacts / "in/sub/x.zip", {"a.txt": "A"})

    harness.run("unzip", archives="in/sub/x.zip", dest_dir="out", src_dir="in", private_zip_folder=True)

    assert (harness.artifacts / "out/sub/x/a.txt").read_text() == "A"


def test_an_archive_outside_src_dir_extracts_into_a_folder_named_after_it(harness: ArchiveHarness) -> None:
    make_zip(harness.artifacts / "elsewhere/y.zip", {"a.txt": "A"})
    (harness.artifacts / "in").mkdir()

    harness.run("unzip", archives="elsewhere/y.zip", dest_dir="out", src_dir="in")

    assert tree(harness.artifacts / "out") == ["y", "y/a.txt"]


def test_unzip_extracts_only_the_listed_members(harness: ArchiveHarness) -> None:
    make_zip(harness.artifacts / "x.zip", {"a.txt": "A", "b.txt": "B", "c/d.txt": "D"})

    result = harness.run("unzip", archives="x.zip", dest_dir="out", members=["c/d.txt", "a.txt"])

    assert tree(harness.artifacts / "out") == ["a.txt", "c", "c/d.txt"]
    assert result.output["unzipped"][0]["files"] == ["a.txt", "c/d.txt"]


def test_unzip_of_a_member_that_is_not_in_the_archive_fails(harness: ArchiveHarness) -> None:
    make_zip(harness.artifacts / "x.zip", {"a.txt": "A"})

    with pytest.raises(ValueError, match=r"unzip members not found in .*x\.zip: \['nope'\]"):
        harness.run("unzip", archives="x.zip", dest_dir="out", members=["nope"])


def test_unzip_without_overwrite_keeps_existing_files(harness: ArchiveHarness) -> None:
    make_zip(harness.artifacts / "x.zip", {"a.txt": "new", "b.txt": "new"})
    harness.write("out/a.txt", "old")

    result = harness.run("unzip", archives="x.zip", dest_dir="out", overwrite=False)

    assert (harness.artifacts / "out/a.txt").read_text() == "old"
    assert (harness.artifacts / "out/b.txt").read_text() == "new"
    assert result.output["unzipped"][0]["files"] == ["b.txt"]


def test_unzip_with_overwrite_replaces_existing_files(harness: ArchiveHarness) -> None:
    make_zip(harness.artifacts / "x.zip", {"a.txt": "new"})
    harness.write("out/a.txt", "old")

    harness.run("unzip", archives="x.zip", dest_dir="out")

    assert (harness.artifacts / "out/a.txt").read_text() == "new"


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("/etc/evil.txt", "absolute path"),
        ("C:\\Windows\\evil.txt", "absolute path"),
        ("../evil.txt", "parent traversal"),
        ("ok/../../evil.txt", "parent traversal"),
        ("..\\evil.txt", "parent traversal"),
    ],
)
def test_unzip_refuses_an_unsafe_entry_name_and_extracts_nothing(
    harness: ArchiveHarness, entry: str, reason: str
) -> None:
    archive = make_zip(harness.artifacts / "evil.zip", {"first-safe.txt": "fine", entry: "pwned"})

    with pytest.raises(ValueError) as caught:
        harness.run("unzip", archives="evil.zip", dest_dir="out")

    assert str(caught.value) == f"unzip refused unsafe entry '{entry}' in {archive}: {reason}"
    assert tree(harness.artifacts / "out") == []
    assert not any(p.name == "evil.txt" for p in harness.ctx.work_root.rglob("*"))


def test_unzip_refuses_a_symlink_entry_and_extracts_nothing(harness: ArchiveHarness) -> None:
    archive = make_zip(harness.artifacts / "link.zip", {"first-safe.txt": "fine"}, symlinks={"passwd": "/etc/passwd"})

    with pytest.raises(ValueError) as caught:
        harness.run("unzip", archives="link.zip", dest_dir="out")

    assert str(caught.value) == f"unzip refused unsafe entry 'passwd' in {archive}: symlink"
    assert tree(harness.artifacts / "out") == []


def test_unzip_checks_only_the_listed_members_for_safety(harness: ArchiveHarness) -> None:
    make_zip(harness.artifacts / "mixed.zip", {"good.txt": "ok", "../evil.txt": "pwned"})

    harness.run("unzip", archives="mixed.zip", dest_dir="out", members=["good.txt"])

    assert tree(harness.artifacts / "out") == ["good.txt"]


def test_a_missing_archive_fails_naming_it_and_extracts_nothing(harness: ArchiveHarness) -> None:
    make_zip(harness.artifacts / "there.zip", {"a.txt": "A"})

    expected = f"unzip archive not found: {harness.artifacts / 'gone.zip'}"
    with pytest.raises(InvalidValue, match=f"^{re.escape(expected)}$"):
        harness.run("unzip", archives=["there.zip", "gone.zip"], dest_dir="out")

    assert not (harness.artifacts / "out").exists()


@pytest.mark.parametrize("content", [b"this is not a zip file", b"PK\x03\x04" + b"\x00" * 40])
def test_a_corrupt_archive_fails_with_an_error_naming_it(harness: ArchiveHarness, content: bytes) -> None:
    broken = harness.write("broken.zip", content)

    with pytest.raises(ValueError, match=rf"^unzip cannot read {broken}: corrupt or not a zip archive"):
        harness.run("unzip", archives="broken.zip", dest_dir="out")

    assert tree(harness.artifacts / "out") == []


def test_an_entry_with_a_bad_checksum_fails_and_nothing_is_left_behind(harness: ArchiveHarness) -> None:
    archive = make_zip(harness.artifacts / "crc.zip", {"a.txt": "A" * 100, "b.txt": "payload-to-corrupt"})
    data = archive.read_bytes()
    archive.write_bytes(data.replace(b"payload-to-corrupt", b"PAYLOAD-TO-CORRUPT"))

    with pytest.raises(ConnectorError, match=r"corrupt or not a zip archive \(Bad CRC-32"):
        harness.run("unzip", archives="crc.zip", dest_dir="out")

    assert tree(harness.artifacts) == ["crc.zip", "out"]


def test_a_wrong_password_fails_and_extracts_nothing(harness: ArchiveHarness) -> None:
    harness.write("s/a.txt", "secret")
    harness.run("zip", dest_path="s.zip", items=["s"], password="right")

    with pytest.raises(ConnectorError, match=r"wrong or missing password"):
        harness.run("unzip", archives="s.zip", dest_dir="out", password="wrong")

    assert tree(harness.artifacts) == ["out", "s", "s.zip", "s/a.txt"]
