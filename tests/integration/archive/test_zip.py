"""The ``zip`` step (steps.md §8): items, base dir, dedupe and order, connectors, passwords."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable

import pytest

from aetherflow.api import ConnectorError, Interrupted, InvalidValue, Status
from aetherflow.spec.resources import ResolvedResource
from tests.integration.archive.conftest import ArchiveHarness


def names_in(path: object) -> list[str]:
    with zipfile.ZipFile(str(path)) as zf:
        return zf.namelist()


def test_zip_takes_paths_globs_mappings_and_directories_relative_to_src_dir(harness: ArchiveHarness) -> None:
    for rel in ("in/a.csv", "in/b.csv", "in/c.txt", "in/sub/d.csv", "in/sub/deeper/e.bin", "other/x.log"):
        harness.write(rel, rel)

    result = harness.run(
        "zip",
        dest_path="out/bundle.zip",
        items=["in/*.csv", {"path": "in/sub"}, {"glob": "in/c.*"}, "in/a.csv"],
        src_dir="in",
    )

    dest = harness.artifacts / "out/bundle.zip"
    assert result.status == Status.SUCCESS
    assert result.output == {
        "output": str(dest),
        "count": 5,
        "password": False,
        "driver": "zipfile",
        "src_dir": str(harness.artifacts / "in"),
    }
    assert names_in(dest) == ["a.csv", "b.csv", "c.txt", "sub/d.csv", "sub/deeper/e.bin"]
    with zipfile.ZipFile(dest) as zf:
        assert zf.read("sub/deeper/e.bin") == b"in/sub/deeper/e.bin"
        assert zf.getinfo("a.csv").compress_type == zipfile.ZIP_DEFLATED


def test_zip_without_recursion_takes_only_the_top_level_files_of_a_directory(harness: ArchiveHarness) -> None:
    harness.write("d/top.txt")
    harness.write("d/nested/inner.txt")

    harness.run("zip", dest_path="d.zip", items=["d"], recursive="false")

    assert names_in(harness.artifacts / "d.zip") == ["d/top.txt"]


def test_zip_stored_compression_stores_entries_uncompressed(harness: ArchiveHarness) -> None:
    harness.write("a.txt", "a" * 1000)

    harness.run("zip", dest_path="s.zip", items=["a.txt"], compression="STORED")

    with zipfile.ZipFile(harness.artifacts / "s.zip") as zf:
        assert zf.getinfo("a.txt").compress_type == zipfile.ZIP_STORED


def test_zip_never_includes_its_own_output(harness: ArchiveHarness) -> None:
    harness.write("a.txt")
    harness.run("zip", dest_path="all.zip", items=["*"])

    harness.run("zip", dest_path="all.zip", items=["*"])

    assert names_in(harness.artifacts / "all.zip") == ["a.txt"]


def test_zip_of_a_file_outside_src_dir_fails_with_the_spec_message(harness: ArchiveHarness) -> None:
    outside = harness.write("elsewhere/x.txt")
    base = harness.artifacts / "in"
    base.mkdir()

    with pytest.raises(ValueError) as caught:
        harness.run("zip", dest_path="x.zip", items=["elsewhere/x.txt"], src_dir="in")

    assert str(caught.value) == f"zip input '{outside}' is outside base_dir '{base}'"
    assert not (harness.artifacts / "x.zip").exists()


def test_zip_with_no_matching_files_is_skipped_with_no_files_reason(harness: ArchiveHarness) -> None:
    harness.write("empty/.keep").unlink()
    result = harness.run("zip", dest_path="none.zip", items=["*.csv", {"glob": "*.txt"}, "empty"])

    assert result.status == Status.SKIPPED
    assert result.output == {"output": str(harness.artifacts / "none.zip"), "count": 0, "reason": "no_files"}
    assert not (harness.artifacts / "none.zip").exists()


def test_zip_of_a_missing_path_fails_naming_it(harness: ArchiveHarness) -> None:
    harness.write("a.txt")

    expected = f"zip item not found: {harness.artifacts / 'missing.txt'}"
    with pytest.raises(InvalidValue, match=f"^{re.escape(expected)}$"):
        harness.run("zip", dest_path="out.zip", items=["a.txt", {"path": "missing.txt"}])

    assert not (harness.artifacts / "out.zip").exists()


def test_zip_without_overwrite_refuses_an_existing_archive(harness: ArchiveHarness) -> None:
    harness.write("a.txt")
    harness.write("old.zip", b"previous")

    with pytest.raises(FileExistsError, match="overwrite is false"):
        harness.run("zip", dest_path="old.zip", items=["a.txt"], overwrite=False)

    assert (harness.artifacts / "old.zip").read_bytes() == b"previous"


def test_zip_refuses_an_input_reached_through_a_symlink(harness: ArchiveHarness) -> None:
    secret = harness.write("../../../../secret.txt", "top secret")
    (harness.artifacts / "link.txt").symlink_to(secret)

    with pytest.raises(ValueError, match="Path contains symlink"):
        harness.run("zip", dest_path="x.zip", items=["*.txt"])


def test_zip_rejects_an_unknown_compression(harness: ArchiveHarness) -> None:
    harness.write("a.txt")

    with pytest.raises(ValueError, match=r"^zip unsupported compression: bzip2\. Use one of: deflated, stored$"):
        harness.run("zip", dest_path="x.zip", items=["a.txt"], compression="bzip2")


def test_zip_with_a_password_uses_pyzipper_aes_and_round_trips(harness: ArchiveHarness) -> None:
    harness.write("secret/report.csv", "id,amount\n1,2\n")

    zipped = harness.run("zip", dest_path="secret.zip", items=["secret"], password="s3cret")
    unzipped = harness.run("unzip", archives="secret.zip", dest_dir="plain", password="s3cret")

    assert zipped.output["password"] is True
    assert zipped.output["driver"] == "pyzipper"
    with zipfile.ZipFile(harness.artifacts / "secret.zip") as zf:
        assert zf.getinfo("secret/report.csv").flag_bits & 0x1  # encrypted entry
        assert zf.getinfo("secret/report.csv").compress_type == 99  # WinZip AES
    assert (harness.artifacts / "plain/secret/report.csv").read_text() == "id,amount\n1,2\n"
    assert unzipped.output["unzipped"][0]["files"] == ["secret/report.csv"]
    assert unzipped.output["unzipped"][0]["driver"] == "pyzipper"


def test_declared_zipfile_resource_cannot_write_a_password(make_harness: Callable[..., ArchiveHarness]) -> None:
    harness = make_harness(ResolvedResource("plainzip", "archive", "zipfile"))
    harness.write("a.txt")

    with pytest.raises(ConnectorError, match=r"archive:zipfile\) cannot write encrypted archives"):
        harness.run("zip", dest_path="x.zip", items=["a.txt"], password="pw", resource="plainzip")

    assert list(harness.artifacts.iterdir()) == [harness.artifacts / "a.txt"]


def test_a_resource_named_archive_default_is_used_when_none_is_given(
    make_harness: Callable[..., ArchiveHarness],
) -> None:
    harness = make_harness(ResolvedResource("archive_default", "archive", "pyzipper", {"aes_strength": 128}))
    harness.write("a.txt")

    result = harness.run("zip", dest_path="x.zip", items=["a.txt"])

    assert result.output["driver"] == "pyzipper"


def test_connector_input_is_an_alias_of_resource(make_harness: Callable[..., ArchiveHarness]) -> None:
    harness = make_harness(ResolvedResource("zips", "archive", "pyzipper"))
    harness.write("a.txt")

    result = harness.run("zip", dest_path="x.zip", items=["a.txt"], connector="zips")

    assert result.output["driver"] == "pyzipper"


def test_enterprise_mode_requires_a_declared_archive_resource(make_harness: Callable[..., ArchiveHarness]) -> None:
    harness = make_harness(enterprise=True)
    harness.write("a.txt")

    with pytest.raises(RuntimeError, match=r"^Zip/Unzip requires declared archive resource in enterprise mode$"):
        harness.run("zip", dest_path="x.zip", items=["a.txt"])


def test_a_stop_request_interrupts_the_zip_and_leaves_no_archive(harness: ArchiveHarness) -> None:
    harness.write("a.txt")
    harness.ctx.cancelled.set()

    with pytest.raises(Interrupted):
        harness.run("zip", dest_path="x.zip", items=["a.txt"])

    assert not (harness.artifacts / "x.zip").exists()
    assert not (harness.artifacts / "x.zip.tmp").exists()


@pytest.mark.parametrize("text", ["off", " No ", "false\n", "F"])
def test_zip_reads_recursive_written_as_any_false_word_like_a_setting(harness: ArchiveHarness, text: str) -> None:
    harness.write("in/top.csv", "t")
    harness.write("in/sub/deep.csv", "d")

    result = harness.run("zip", dest_path="out/top.zip", items=["in"], recursive=text)

    assert result.status == Status.SUCCESS
    assert names_in(harness.artifacts / "out/top.zip") == ["in/top.csv"]


@pytest.mark.parametrize("text", ["\uff4e\uff4f", "n o", "0.0", "tr\x00ue"])
def test_zip_refuses_recursive_written_as_a_lookalike_of_a_boolean(harness: ArchiveHarness, text: str) -> None:
    harness.write("in/top.csv", "t")

    with pytest.raises(InvalidValue, match=r"recursive.*valid boolean"):
        harness.run("zip", dest_path="out/top.zip", items=["in"], recursive=text)
