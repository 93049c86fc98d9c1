"""``aetherflow run`` end to end: the inputs that name input files.

A named path that does not exist fails the step at once (permanent: one attempt despite ``retry``, exit 3) and the
error names the path. For ``zip``, ``unzip`` and the ``*_upload_files`` steps an empty directory or a glob that
matches nothing is no data: SKIPPED with ``{count: 0, reason: "no_files"}``. Single-file inputs (mail attachments,
Excel paths, ``http_request.body_file``) take no globs, and a directory there is an error.

The missing and empty cases fail or skip before any connection, so the resources point at a closed port.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import CliResult, FlowRun, make_flow

HOSTILE = "dir with spaces/Grüße ü 'q'.csv"

#: step type -> (resources block, inputs naming the path ``{p}`` as a YAML flow sequence)
MULTI: dict[str, tuple[str, str]] = {
    "zip": ("", 'dest_path: out.zip, items: ["{p}"]'),
    "unzip": ("", 'archives: ["{p}"], dest_dir: out'),
    "sftp_upload_files": (
        "sftp: {kind: sftp, driver: paramiko, config: {host: 127.0.0.1, port: 1, username: u, password: p}}",
        'resource: sftp, items: ["{p}"], remote_dir: /in',
    ),
    "smb_upload_files": (
        "smb: {kind: smb, driver: smbclient, config: {server: 127.0.0.1, port: 1, share: s, username: u, password: p}}",
        'resource: smb, local_files: ["{p}"], remote_dir: in',
    ),
    "s3_upload_files": (
        "s3: {kind: s3, driver: boto3, config: {bucket: b, endpoint_url: 'http://127.0.0.1:1', "
        "access_key_id: k, secret_access_key: s, region: us-east-1}}",
        'resource: s3, items: ["{p}"]',
    ),
}


def _one_step(tmp_path: Path, step_type: str, inputs: str, resources: str = "") -> FlowRun:
    block = f"resources:\n          {resources}" if resources else ""
    return make_flow(
        tmp_path,
        f"""
        version: 1
        flow:
          id: inputs_e2e
          workspace: {{cleanup_policy: never}}
        {block}
        jobs:
          - id: job
            steps:
              - id: step
                type: {step_type}
                retry: {{max_attempts: 3, backoff_seconds: 0}}
                inputs: {{{inputs}}}
        """,
    )


def _multi(tmp_path: Path, step_type: str, path: str) -> FlowRun:
    resources, inputs = MULTI[step_type]
    return _one_step(tmp_path, step_type, inputs.replace("{p}", path), resources)


def _step_row(flow: FlowRun) -> tuple[str, int, str | None, dict[str, Any]]:
    [(status, attempts, error, outputs)] = flow.query("SELECT status, attempts, error, outputs_json FROM step_runs")
    return status, attempts, error, json.loads(outputs or "{}")


def _assert_failed_once(flow: FlowRun, result: CliResult) -> str:
    """The step FAILED on its first attempt, not retried, and the run exited 3 (permanent); returns the error."""
    status, attempts, error, _ = _step_row(flow)
    assert (result.code, status, attempts) == (3, "FAILED", 1), result.stderr
    assert error is not None
    return error


def _artifacts(flow: FlowRun) -> Path:
    return flow.work / "inputs_e2e" / "job" / "r1" / "artifacts"


# -- zip, unzip, *_upload_files -------------------------------------------------------------------------------------
@pytest.mark.parametrize("step_type", list(MULTI))
def test_a_missing_path_fails_at_once_naming_it_and_exits_3(tmp_path: Path, step_type: str) -> None:
    missing = tmp_path / "work" / HOSTILE
    flow = _multi(tmp_path, step_type, str(missing))

    result = flow.run()

    error = _assert_failed_once(flow, result)
    assert error.startswith(f"ValueError: {step_type} ")
    assert error.endswith(f"not found: {missing}")


@pytest.mark.parametrize("step_type", list(MULTI))
def test_a_directory_that_does_not_exist_fails_at_once_naming_it(tmp_path: Path, step_type: str) -> None:
    flow = _multi(tmp_path, step_type, "gone/")

    result = flow.run()

    error = _assert_failed_once(flow, result)
    assert error.endswith(f"not found: {_artifacts(flow) / 'gone'}")


@pytest.mark.parametrize("step_type", list(MULTI))
@pytest.mark.parametrize("named", ["{empty}", "{empty}/*.csv", "{work}/no-such-dir/*"])
def test_an_empty_directory_or_a_glob_matching_nothing_is_skipped_with_no_files(
    tmp_path: Path, step_type: str, named: str
) -> None:
    empty = tmp_path / "work" / "empty dir ü"
    empty.mkdir(parents=True)
    flow = _multi(tmp_path, step_type, named.format(empty=empty, work=tmp_path / "work"))

    result = flow.run()

    status, attempts, _, outputs = _step_row(flow)
    assert (result.code, status, attempts) == (0, "SKIPPED", 1), result.stderr
    assert (outputs["count"], outputs["reason"]) == (0, "no_files")


@pytest.mark.parametrize("step_type", list(MULTI))
def test_a_path_climbing_out_of_the_sandbox_is_refused_at_once(tmp_path: Path, step_type: str) -> None:
    outside = tmp_path / "outside.csv"
    outside.write_text("secret\n")
    flow = _multi(tmp_path, step_type, "../../../../../outside.csv")

    result = flow.run()

    error = _assert_failed_once(flow, result)
    assert "sandbox" in error or "allowed roots" in error


@pytest.mark.parametrize("step_type", list(MULTI))
def test_a_glob_climbing_out_of_the_sandbox_is_refused_at_once(tmp_path: Path, step_type: str) -> None:
    (tmp_path / "outside.csv").write_text("secret\n")
    flow = _multi(tmp_path, step_type, "../../../../../*.csv")

    result = flow.run()

    _assert_failed_once(flow, result)


def test_zip_of_a_directory_emptied_by_an_earlier_cleanup_fails_instead_of_skipping(tmp_path: Path) -> None:
    # The first-flow defect: the directory an earlier job wrote is gone; a zip of it must not look like "no data".
    flow = _one_step(tmp_path, "zip", f'dest_path: out.zip, items: ["{tmp_path / "work" / "extract" / "out"}"]')

    result = flow.run()

    error = _assert_failed_once(flow, result)
    assert error == f"ValueError: zip item not found: {tmp_path / 'work' / 'extract' / 'out'}"


def test_zip_of_names_with_spaces_unicode_and_quotes_archives_them(tmp_path: Path) -> None:
    source = tmp_path / "work" / HOSTILE
    source.parent.mkdir(parents=True)
    source.write_text("id\n1\n")
    flow = _one_step(
        tmp_path,
        "zip",
        f"""dest_path: out.zip, src_dir: "{tmp_path / "work"}", items: ["{source.parent}"]""",
    )

    result = flow.run()

    assert result.code == 0, result.stderr
    with zipfile.ZipFile(_artifacts(flow) / "out.zip") as zf:
        assert zf.namelist() == [HOSTILE]


@pytest.mark.parametrize("step_type", list(MULTI))
def test_an_existing_name_with_glob_characters_is_that_file_not_a_pattern(tmp_path: Path, step_type: str) -> None:
    # A pattern would match only "report1 x.csv" (absent), so the step would skip; the file is there: it is used.
    literal = tmp_path / "work" / "report[1] *x?.csv"
    literal.parent.mkdir(parents=True)
    literal.write_text("not an archive\n")
    flow = _multi(tmp_path, step_type, str(literal))
    if step_type == "zip":  # archive names are relative to src_dir
        flow = _one_step(tmp_path, "zip", f'dest_path: out.zip, src_dir: "{literal.parent}", items: ["{literal}"]')

    result = flow.run()

    status, _, error, _ = _step_row(flow)
    if step_type == "zip":
        assert (result.code, status) == (0, "SUCCESS"), result.stderr
        with zipfile.ZipFile(_artifacts(flow) / "out.zip") as zf:
            assert zf.namelist() == [literal.name]
    else:  # it reaches the archive check or the (closed) server: the file was found, not skipped
        assert status == "FAILED"
        assert error is not None and "not found" not in error and "no_files" not in error


def test_unzip_of_a_directory_extracts_each_archive_in_it(tmp_path: Path) -> None:
    inbox = tmp_path / "work" / "inbox ü"
    inbox.mkdir(parents=True)
    for name in ("a.zip", "b.zip"):
        with zipfile.ZipFile(inbox / name, "w") as zf:
            zf.writestr(f"{name}.txt", name)
    flow = _one_step(tmp_path, "unzip", f"archives: '{inbox}', dest_dir: out, private_zip_folder: true")

    result = flow.run()

    assert result.code == 0, result.stderr
    out = _artifacts(flow) / "out"
    assert sorted(p.name for p in out.rglob("*.txt")) == ["a.zip.txt", "b.zip.txt"]
    _, _, _, outputs = _step_row(flow)
    assert len(outputs["unzipped"]) == 2
