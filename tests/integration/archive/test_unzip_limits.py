"""``unzip`` limits and confinement: archives that would write outside ``dest_dir``, too much, too many entries, or
expand too far are refused before anything is written."""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from tests.integration.archive.conftest import ArchiveHarness
from tests.integration.archive.test_unzip import make_zip, tree


def _zeros_zip(path: Path, entries: dict[str, int], *, extra_random: int = 0) -> Path:
    """A deflated zip of zero-filled entries (``name: size``), plus one random entry of ``extra_random`` bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, size in entries.items():
            zf.writestr(name, bytes(size))
        if extra_random:
            zf.writestr("random.bin", os.urandom(extra_random))
    return path


def _lying_zip(path: Path, name: str, data: bytes, declared: int) -> Path:
    """A stored zip whose central directory declares ``declared`` uncompressed bytes (ZIP64) for ``data``."""
    crc = zlib.crc32(data)
    encoded = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, crc, len(data), len(data), len(encoded), 0)
    body = local + encoded + data
    zip64 = struct.pack("<HHQQ", 0x0001, 16, declared, len(data))
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50,
        45,
        45,
        0,
        0,
        0,
        0,
        crc,
        len(data),
        0xFFFFFFFF,
        len(encoded),
        len(zip64),
        0,
        0,
        0,
        0o100644 << 16,
        0,
    )
    directory = central + encoded + zip64
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(directory), len(body), 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body + directory + end)
    return path


def _everything_outside(harness: ArchiveHarness) -> list[str]:
    """Files under the job root outside ``artifacts/out`` and the archives' folder (``in``)."""
    root = harness.ctx.work_root
    out = harness.artifacts / "out"
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and out not in p.parents and p.suffix != ".zip"
    )


def test_an_archive_named_three_dots_zip_with_a_private_folder_does_not_extract_beside_dest_dir(
    harness: ArchiveHarness,
) -> None:
    archive = make_zip(harness.artifacts / "in" / "...zip", {"escaped.txt": "pwned"})

    with pytest.raises(ValueError) as caught:
        harness.run("unzip", archives="in/...zip", dest_dir="out", src_dir="in", private_zip_folder=True)

    assert str(caught.value).startswith(f"unzip refused {archive}: its folder '..' resolves outside dest_dir")
    assert _everything_outside(harness) == []
    assert tree(harness.artifacts / "out") == []


def test_an_archive_named_three_dots_zip_outside_src_dir_does_not_extract_beside_dest_dir(
    harness: ArchiveHarness,
) -> None:
    make_zip(harness.artifacts / "elsewhere" / "...zip", {"escaped.txt": "pwned"})
    (harness.artifacts / "in").mkdir()

    with pytest.raises(ValueError, match=r"its folder '\.\.' resolves outside dest_dir"):
        harness.run("unzip", archives="elsewhere/...zip", dest_dir="out/deeper", src_dir="in")

    assert not list(harness.ctx.work_root.rglob("escaped.txt"))


def test_an_archive_named_two_dots_zip_extracts_into_dest_dir_itself(harness: ArchiveHarness) -> None:
    make_zip(harness.artifacts / "elsewhere" / "..zip", {"a.txt": "A"})
    (harness.artifacts / "in").mkdir()

    harness.run("unzip", archives="elsewhere/..zip", dest_dir="out", src_dir="in")

    assert tree(harness.artifacts / "out") == ["a.txt"]


def test_an_archive_with_more_entries_than_max_entries_is_refused(harness: ArchiveHarness) -> None:
    archive = make_zip(harness.artifacts / "many.zip", {f"f{i}.txt": "x" for i in range(4)})

    with pytest.raises(ValueError) as caught:
        harness.run("unzip", archives="many.zip", dest_dir="out", max_entries=3)

    assert str(caught.value) == f"unzip refused {archive}: 4 entries exceed max_entries 3"
    assert tree(harness.artifacts / "out") == []


def test_an_archive_at_max_entries_is_extracted(harness: ArchiveHarness) -> None:
    make_zip(harness.artifacts / "three.zip", {f"f{i}.txt": "x" for i in range(3)})

    result = harness.run("unzip", archives="three.zip", dest_dir="out", max_entries=3)

    assert result.output["unzipped"][0]["files"] == ["f0.txt", "f1.txt", "f2.txt"]


def test_an_archive_larger_than_max_total_mb_is_refused(harness: ArchiveHarness) -> None:
    archive = _zeros_zip(harness.artifacts / "big.zip", {}, extra_random=(1 << 20) + 1)

    with pytest.raises(ValueError) as caught:
        harness.run("unzip", archives="big.zip", dest_dir="out", max_total_mb=1)

    assert str(caught.value) == f"unzip refused {archive}: {(1 << 20) + 1} bytes uncompressed exceed max_total_mb 1"
    assert tree(harness.artifacts / "out") == []


def test_a_zip_bomb_is_refused_by_its_total_ratio_before_anything_is_written(harness: ArchiveHarness) -> None:
    # 200 small entries of 256 KiB zeros: no entry is over 1 MiB, together 50 MiB from about 50 KiB
    archive = _zeros_zip(harness.artifacts / "bomb.zip", {f"z{i:03}.bin": 256 << 10 for i in range(200)})
    assert archive.stat().st_size < 200 << 10

    with pytest.raises(ValueError) as caught:
        harness.run("unzip", archives="bomb.zip", dest_dir="out")

    assert str(caught.value).startswith(f"unzip refused {archive}: compression ratio ")
    assert str(caught.value).endswith(" exceeds max_ratio 200")
    assert tree(harness.artifacts / "out") == []


def test_one_dense_entry_over_one_mib_is_refused_even_when_the_total_ratio_is_fine(harness: ArchiveHarness) -> None:
    archive = _zeros_zip(harness.artifacts / "dense.zip", {"zeros.bin": 2 << 20}, extra_random=1 << 20)

    with pytest.raises(ValueError) as caught:
        harness.run("unzip", archives="dense.zip", dest_dir="out")

    assert str(caught.value).startswith(f"unzip refused unsafe entry 'zeros.bin' in {archive}: compression ratio ")
    assert tree(harness.artifacts / "out") == []


def test_small_dense_entries_under_one_mib_in_total_are_extracted(harness: ArchiveHarness) -> None:
    _zeros_zip(harness.artifacts / "small.zip", {f"z{i}.bin": 64 << 10 for i in range(8)})

    result = harness.run("unzip", archives="small.zip", dest_dir="out")

    assert len(result.output["unzipped"][0]["files"]) == 8


def test_a_higher_max_ratio_lets_a_dense_archive_through(harness: ArchiveHarness) -> None:
    _zeros_zip(harness.artifacts / "dense.zip", {"zeros.bin": 2 << 20})

    harness.run("unzip", archives="dense.zip", dest_dir="out", max_ratio=100000)

    assert (harness.artifacts / "out" / "zeros.bin").stat().st_size == 2 << 20


def test_an_archive_declaring_more_than_the_free_space_is_refused(harness: ArchiveHarness) -> None:
    declared = 1 << 60  # an exbibyte: more than any test machine's disk
    archive = _lying_zip(harness.artifacts / "huge.zip", "huge.bin", b"tiny", declared)

    with pytest.raises(ValueError) as caught:
        harness.run("unzip", archives="huge.zip", dest_dir="out", max_total_mb=1 << 50, max_ratio=1 << 62)

    assert f"unzip refused {archive}: {declared} bytes uncompressed exceed the " in str(caught.value)
    assert " bytes free at " in str(caught.value)
    assert tree(harness.artifacts / "out") == []


@pytest.mark.parametrize(
    ("inputs", "field"),
    [({"max_entries": 0}, "max_entries"), ({"max_total_mb": -1}, "max_total_mb"), ({"max_ratio": 0}, "max_ratio")],
)
def test_a_limit_that_is_not_positive_is_an_input_error(
    harness: ArchiveHarness, inputs: dict[str, int], field: str
) -> None:
    make_zip(harness.artifacts / "x.zip", {"a.txt": "A"})

    with pytest.raises(ValueError, match=field):
        harness.run("unzip", archives="x.zip", dest_dir="out", **inputs)

    assert tree(harness.artifacts / "out") == []
