"""``aetherflow run`` end to end with ``zip`` and ``unzip``: a password round trip, and a zip-slip archive refused."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from tests.support.cli import make_flow


def test_zip_then_unzip_with_a_password_from_the_env(tmp_path: Path) -> None:
    source = tmp_path / "work" / "source"  # inside the work root: the path sandbox allows it
    (source / "reports").mkdir(parents=True)
    (source / "reports" / "daily.csv").write_text("id,total\n1,42\n")
    flow = make_flow(
        tmp_path,
        f"""
        version: 1
        flow:
          id: zip_e2e
          workspace: {{cleanup_policy: never}}
        jobs:
          - id: pack
            steps:
              - id: zip
                type: zip
                inputs:
                  dest_path: bundle.zip
                  src_dir: {tmp_path / "work"}
                  items: [{{glob: "{source}/reports/*.csv"}}]
                  password: "{{{{env.ZIP_PASSWORD}}}}"
              - id: unzip
                type: unzip
                inputs: {{archives: bundle.zip, dest_dir: restored, password: "{{{{env.ZIP_PASSWORD}}}}"}}
        """,
    )

    result = flow.run(env={"ZIP_PASSWORD": "correct horse"})

    assert result.code == 0, result.stderr
    artifacts = flow.work / "zip_e2e" / "pack" / "r1" / "artifacts"
    assert (artifacts / "restored" / "source" / "reports" / "daily.csv").read_text() == "id,total\n1,42\n"
    with zipfile.ZipFile(artifacts / "bundle.zip") as zf:
        assert zf.namelist() == ["source/reports/daily.csv"]
    [(zip_out,)] = flow.query("SELECT outputs_json FROM step_runs WHERE step_id = 'zip'")
    assert json.loads(zip_out)["password"] is True
    assert "correct horse" not in zip_out


def test_a_zip_slip_archive_fails_the_run_and_extracts_nothing(tmp_path: Path) -> None:
    evil = tmp_path / "work" / "inbox" / "evil.zip"
    evil.parent.mkdir(parents=True)
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("fine.txt", "ok")
        zf.writestr("../../escaped.txt", "pwned")
    flow = make_flow(
        tmp_path,
        f"""
        version: 1
        flow:
          id: unzip_e2e
          workspace: {{cleanup_policy: never}}
        jobs:
          - id: open
            steps:
              - id: unzip
                type: unzip
                inputs: {{archives: {evil}, dest_dir: out}}
        """,
    )

    result = flow.run()

    assert result.code == 1
    [(status, error)] = flow.query("SELECT status, error FROM step_runs")
    assert status == "FAILED"
    assert error == f"ValueError: unzip refused unsafe entry '../../escaped.txt' in {evil}: parent traversal"
    assert not list(flow.work.rglob("fine.txt"))
    assert not list(tmp_path.rglob("escaped.txt"))
