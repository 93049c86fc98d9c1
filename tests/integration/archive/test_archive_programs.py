"""``archive:os`` (real ``zip``/``unzip`` programs), ``archive:external`` (argv templates), ``archive:pyminizip``."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aetherflow.api import ConnectorError, Interrupted
from aetherflow.spec.resources import ResolvedResource
from tests.integration.archive.conftest import ArchiveHarness
from tests.support.cli import aetherflow, make_flow, run_args

needs_info_zip = pytest.mark.skipif(
    not (shutil.which("zip") and shutil.which("unzip")), reason="needs Debian's zip and unzip (listed in .ci/run)"
)
OS = ResolvedResource("osz", "archive", "os", {})
EXTERNAL_INFO_ZIP = ResolvedResource(
    "ext",
    "archive",
    "external",
    {
        "zip_cmd": ["zip", "-q", "-P", "{password}", "{archive}", "{files}"],
        "unzip_cmd": ["unzip", "-q", "-P", "{password}", "{archive}", "-d", "{dest}"],
    },
)
HOSTILE_NAMES = ["-starts-with-dash.txt", "with space and 'quotes\".txt", "Zoë/ünï.txt", "[glob]*?.txt", "$(id).txt"]


def external(**config: Any) -> ResolvedResource:
    return ResolvedResource("ext", "archive", "external", config)


def connector(harness: ArchiveHarness, name: str) -> Any:
    return harness.ctx.connector(name, kind="archive")


@needs_info_zip
def test_os_zip_then_unzip_round_trips_hostile_file_names(make_harness: Callable[..., ArchiveHarness]) -> None:
    h = make_harness(OS)
    for name in HOSTILE_NAMES:
        h.write(f"src/{name}", f"content of {name}")

    zipped = h.run("zip", dest_path="out.zip", items=["src"], src_dir="src", resource="osz")
    unzipped = h.run("unzip", archives="out.zip", dest_dir="back", resource="osz")

    assert zipped.output["driver"] == "os"
    with zipfile.ZipFile(h.artifacts / "out.zip") as zf:
        # Info-ZIP zip 3.0 stores names as raw bytes without the UTF-8 flag: only ASCII names read back alike here.
        ascii_names = [n for n in zf.namelist() if n.isascii()]
        assert sorted(ascii_names) == sorted(n for n in HOSTILE_NAMES if n.isascii())
    for name in HOSTILE_NAMES:
        assert (h.artifacts / "back" / name).read_text() == f"content of {name}"
    assert sorted(unzipped.output["unzipped"][0]["files"]) == sorted(HOSTILE_NAMES)
    assert not (h.artifacts / "out.zip.tmp").exists()


@needs_info_zip
def test_os_zip_with_a_password_writes_zipcrypto_that_zipfile_reads(
    make_harness: Callable[..., ArchiveHarness],
) -> None:
    h = make_harness(OS)
    h.write("a.txt", "secret data")
    password = "pa ss'\"$word"

    h.run("zip", dest_path="enc.zip", items=["a.txt"], password=password, resource="osz")

    with zipfile.ZipFile(h.artifacts / "enc.zip") as zf:
        assert zf.infolist()[0].flag_bits & 0x1  # encrypted
        with pytest.raises(RuntimeError, match="password"):
            zf.read("a.txt")
        assert zf.read("a.txt", pwd=password.encode()) == b"secret data"


@needs_info_zip
def test_os_unzip_with_a_wrong_password_fails_masking_it_and_extracts_nothing(
    make_harness: Callable[..., ArchiveHarness],
) -> None:
    h = make_harness(OS)
    h.write("a.txt", "x")
    h.run("zip", dest_path="enc.zip", items=["a.txt"], password="right-one", resource="osz")

    with pytest.raises(ConnectorError) as caught:
        connector(h, "osz").extract_zip(
            archive=h.artifacts / "enc.zip", dest_dir=h.artifacts / "out", password="wrong-1"
        )

    assert "unzip" in str(caught.value) and "exited" in str(caught.value)
    assert "wrong-1" not in str(caught.value)
    assert list((h.artifacts / "out").iterdir()) == []


@needs_info_zip
def test_os_unzip_extracts_only_the_listed_members_and_keeps_existing_files_without_overwrite(
    make_harness: Callable[..., ArchiveHarness],
) -> None:
    h = make_harness(OS)
    archive = h.artifacts / "m.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("keep.txt", "new")
        zf.writestr("d/other.txt", "other")
        zf.writestr("[x].txt", "bracket")
    h.write("out/keep.txt", "old")

    result = connector(h, "osz").extract_zip(
        archive=archive, dest_dir=h.artifacts / "out", members=["keep.txt", "[x].txt"], overwrite=False
    )

    assert result["files"] == ["[x].txt"]
    assert (h.artifacts / "out" / "keep.txt").read_text() == "old"
    assert (h.artifacts / "out" / "[x].txt").read_text() == "bracket"
    assert not (h.artifacts / "out" / "d").exists()
    assert [p.name for p in (h.artifacts / "out").iterdir() if p.name.startswith(".")] == []


@needs_info_zip
@pytest.mark.parametrize(
    ("entry", "reason"), [("../escaped.txt", "parent traversal"), ("/etc/abs.txt", "absolute path")]
)
def test_os_unzip_refuses_an_unsafe_entry_before_running_unzip(
    make_harness: Callable[..., ArchiveHarness], entry: str, reason: str
) -> None:
    h = make_harness(OS)
    archive = h.artifacts / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("fine.txt", "ok")
        zf.writestr(entry, "pwned")

    with pytest.raises(ValueError, match=f"unzip refused unsafe entry '{entry}' in .*: {reason}"):
        connector(h, "osz").extract_zip(archive=archive, dest_dir=h.artifacts / "out")

    assert not (h.artifacts / "out").exists() or list((h.artifacts / "out").iterdir()) == []
    assert not (h.artifacts / "escaped.txt").exists()


def test_an_external_extraction_that_creates_a_symlink_is_refused_and_nothing_lands(
    make_harness: Callable[..., ArchiveHarness], tmp_path: Path
) -> None:
    # A program that restores a symlink (as 7z or bsdtar would for a crafted archive) next to a regular file.
    script = 'mkdir -p "$1/sub" && echo ok > "$1/fine.txt" && ln -s /etc/passwd "$1/sub/link"'
    h = make_harness(external(unzip_cmd=["sh", "-c", script, "sh", "{dest}"]))
    archive = h.write("any.7z", b"not a zip: only the program reads it")

    with pytest.raises(ValueError, match=r"unzip refused unsafe entry 'sub/link' in .*any\.7z: symlink"):
        connector(h, "ext").extract_zip(archive=archive, dest_dir=h.artifacts / "out")

    assert list((h.artifacts / "out").iterdir()) == []


def test_an_external_extraction_that_creates_a_fifo_or_hard_link_is_refused(
    make_harness: Callable[..., ArchiveHarness],
) -> None:
    for script, reason in (
        ('mkfifo "$1/pipe"', "special file"),
        ('echo x > "$1/a" && ln "$1/a" "$1/b"', "hard link"),
    ):
        h = make_harness(external(unzip_cmd=["sh", "-c", script, "sh", "{dest}"]))
        archive = h.write("x.bin", b"?")
        with pytest.raises(ValueError, match=reason):
            connector(h, "ext").extract_zip(archive=archive, dest_dir=h.artifacts / "out")
        assert list((h.artifacts / "out").iterdir()) == []


@needs_info_zip
def test_external_templates_round_trip_through_the_steps_with_a_password(
    make_harness: Callable[..., ArchiveHarness],
) -> None:
    h = make_harness(EXTERNAL_INFO_ZIP)
    h.write("in/x.txt", "x")
    h.write("in/-y.txt", "y")

    h.run("zip", dest_path="e.zip", items=["in"], src_dir="in", password="{dest}pw", resource="ext")
    result = h.run("unzip", archives="e.zip", dest_dir="back", password="{dest}pw", resource="ext")

    with zipfile.ZipFile(h.artifacts / "e.zip") as zf:
        assert zf.read("x.txt", pwd=b"{dest}pw") == b"x"
    assert (h.artifacts / "back" / "-y.txt").read_text() == "y"
    assert result.output["unzipped"][0]["driver"] == "external"


def test_a_failing_external_program_is_a_permanent_error_with_the_password_masked(
    make_harness: Callable[..., ArchiveHarness],
) -> None:
    h = make_harness(external(unzip_cmd=["sh", "-c", 'echo "bad password $1" >&2; exit 3', "sh", "{password}"]))
    archive = h.write("a.zip", b"x")

    with pytest.raises(ConnectorError) as caught:
        connector(h, "ext").extract_zip(archive=archive, dest_dir=h.artifacts / "out", password="hunter2!")

    assert str(caught.value).endswith("'sh' exited 3: bad password ***")
    assert not caught.value.transient


def test_a_password_without_a_password_placeholder_is_refused(make_harness: Callable[..., ArchiveHarness]) -> None:
    h = make_harness(external(zip_cmd=["zip", "-q", "{archive}", "{files}"]))
    h.write("a.txt", "x")

    with pytest.raises(ConnectorError, match=r"config\.zip_cmd has no \{password\} placeholder"):
        h.run("zip", dest_path="a.zip", items=["a.txt"], password="pw", resource="ext")
    assert not (h.artifacts / "a.zip").exists()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"zip_cmd": "zip -q {archive} {files}"}, r"config\.zip_cmd must be a list of arguments"),
        ({"unzip_cmd": []}, r"config\.unzip_cmd must be a list of arguments"),
        ({"unzip_cmd": ["unzip", 3]}, r"config\.unzip_cmd must be a list of arguments"),
    ],
)
def test_malformed_external_templates_are_refused(
    make_harness: Callable[..., ArchiveHarness], config: dict[str, Any], message: str
) -> None:
    h = make_harness(external(**config))

    with pytest.raises(ConnectorError, match=message):
        connector(h, "ext")


def test_a_missing_template_or_program_is_a_clear_error(make_harness: Callable[..., ArchiveHarness]) -> None:
    h = make_harness(external(unzip_cmd=["no-such-program-af", "{archive}"]))
    h.write("a.txt", "x")
    archive = h.write("a.zip", b"x")

    with pytest.raises(ConnectorError, match=r"archive resource 'ext' \(archive:external\) needs config\.zip_cmd"):
        h.run("zip", dest_path="a.zip", items=["a.txt"], resource="ext")
    with pytest.raises(ConnectorError, match="program 'no-such-program-af' not found on PATH"):
        connector(h, "ext").extract_zip(archive=archive, dest_dir=h.artifacts / "out")


def test_a_stop_request_kills_a_running_program_at_once(make_harness: Callable[..., ArchiveHarness]) -> None:
    h = make_harness(external(unzip_cmd=["sleep", "60"]))
    archive = h.write("a.zip", b"x")
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()

    with pytest.raises(Interrupted, match="stop requested"):
        connector(h, "ext").extract_zip(archive=archive, dest_dir=h.artifacts / "out", cancelled=stop)

    assert time.monotonic() - started < 10
    assert list((h.artifacts / "out").iterdir()) == []


# -- pyminizip ---------------------------------------------------------------------------------------------------------
pyminizip_missing = pytest.mark.skipif(importlib.util.find_spec("pyminizip") is not None, reason="pyminizip is here")


@pyminizip_missing
def test_without_pyminizip_the_zip_step_fails_naming_the_extra(make_harness: Callable[..., ArchiveHarness]) -> None:
    h = make_harness(ResolvedResource("mini", "archive", "pyminizip", {}))
    h.write("a.txt", "x")

    with pytest.raises(ConnectorError, match=r"install the 'pyminizip' extra \(pip install 'aetherflow\[pyminizip\]'"):
        h.run("zip", dest_path="a.zip", items=["a.txt"], password="pw", resource="mini")
    assert not (h.artifacts / "a.zip").exists()


@pyminizip_missing
def test_validation_reports_the_missing_pyminizip_extra_and_runs_nothing(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """
        version: 1
        flow: {id: mini}
        resources:
          mini: {kind: archive, driver: pyminizip, config: {compress_level: 9}}
        jobs:
          - id: pack
            steps:
              - {id: zip, type: zip, inputs: {dest_path: a.zip, items: [a.txt], password: pw, resource: mini}}
        """,
    )

    result = aetherflow(*run_args(flow.flow, flow.state, flow.work, "r1"))

    assert result.code == 2
    assert "semantic:missing_extra" in result.stderr
    assert "install aetherflow[pyminizip]" in result.stderr
    assert not flow.work.exists() or not any(flow.work.rglob("a.zip"))


def test_pyminizip_refuses_extraction_and_a_bad_level(make_harness: Callable[..., ArchiveHarness]) -> None:
    h = make_harness(
        ResolvedResource("mini", "archive", "pyminizip", {}),
        ResolvedResource("bad", "archive", "pyminizip", {"compress_level": 10}),
    )

    with pytest.raises(ConnectorError, match="cannot extract archives; use archive:zipfile"):
        connector(h, "mini").extract_zip(archive="a.zip", dest_dir="out")
    with pytest.raises(ConnectorError, match=r"config\.compress_level must be 0-9, got 10"):
        connector(h, "bad")


@needs_info_zip
def test_without_pyzipper_a_password_zip_falls_back_to_the_zip_programs(
    harness: ArchiveHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyzipper", None)
    harness.write("a.txt", "secret data")

    zipped = harness.run("zip", dest_path="enc.zip", items=["a.txt"], password="pw")
    unzipped = harness.run("unzip", archives="enc.zip", dest_dir="back", password="pw")

    assert zipped.output["driver"] == "os"
    assert unzipped.output["unzipped"][0]["driver"] == "os"
    assert (harness.artifacts / "back" / "a.txt").read_text() == "secret data"


@needs_info_zip
def test_run_zips_with_archive_os_and_unzips_with_archive_external_end_to_end(tmp_path: Path) -> None:
    source = tmp_path / "work" / "in"
    source.mkdir(parents=True)
    (source / "report.csv").write_text("id\n1\n")
    flow = make_flow(
        tmp_path,
        f"""
        version: 1
        flow:
          id: programs
          workspace: {{cleanup_policy: never}}
        resources:
          osz: {{kind: archive, driver: os}}
          ext:
            kind: archive
            driver: external
            config: {{unzip_cmd: [unzip, -q, -P, "{{password}}", "{{archive}}", -d, "{{dest}}"]}}
        jobs:
          - id: pack
            steps:
              - id: zip
                type: zip
                inputs: {{dest_path: out.zip, items: ["{source}/report.csv"], src_dir: "{source}",
                         password: "{{{{env.ZIP_PW}}}}", resource: osz}}
              - id: unzip
                type: unzip
                inputs: {{archives: out.zip, dest_dir: back, password: "{{{{env.ZIP_PW}}}}", resource: ext}}
        """,
    )

    result = flow.run(env={"ZIP_PW": "s3cret pw"})

    assert result.code == 0, result.stderr
    artifacts = flow.work / "programs" / "pack" / "r1" / "artifacts"
    assert (artifacts / "back" / "report.csv").read_text() == "id\n1\n"
    with zipfile.ZipFile(artifacts / "out.zip") as zf:
        assert zf.read("report.csv", pwd=b"s3cret pw") == b"id\n1\n"
    assert "s3cret pw" not in result.stderr
