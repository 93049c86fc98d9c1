"""``aetherflow run`` end to end with ``zip`` and ``unzip``: a password round trip, and a zip-slip archive refused."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import zipfile
from pathlib import Path

from tests.support.cli import clean_env, cli_argv, make_flow, run_args


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

    assert result.code == 3  # permanent: retrying cannot help
    [(status, error)] = flow.query("SELECT status, error FROM step_runs")
    assert status == "FAILED"
    assert error == f"ValueError: unzip refused unsafe entry '../../escaped.txt' in {evil}: parent traversal"
    assert not list(flow.work.rglob("fine.txt"))
    assert not list(tmp_path.rglob("escaped.txt"))


def test_a_staging_directory_left_by_a_sigkilled_unzip_is_removed_when_the_run_resumes(tmp_path: Path) -> None:
    archive = tmp_path / "work" / "inbox" / "big.zip"
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for i in range(300):
            zf.writestr(f"part{i:03}.bin", bytes(1 << 20))
    flow = make_flow(
        tmp_path,
        f"""
        version: 1
        flow:
          id: unzip_kill
          workspace: {{cleanup_policy: never}}
        jobs:
          - id: open
            steps:
              - id: unzip
                type: unzip
                inputs: {{archives: {archive}, dest_dir: out, max_ratio: 5000}}
        """,
    )
    out = flow.work / "unzip_kill" / "open" / "r1" / "artifacts" / "out"
    argv = cli_argv(*run_args(flow.flow, flow.state, flow.work, "r1"))
    proc = subprocess.Popen(argv, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not any(p.is_file() for p in out.glob(".*/*")) and time.monotonic() < deadline:
            time.sleep(0.002)
    finally:
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate()
    left = [p for p in out.iterdir() if p.name.startswith(".")] if out.is_dir() else []
    assert left, err.decode()  # the kill came during the extraction: a staging directory is left

    result = flow.run()

    assert result.code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["big"]  # an archive outside src_dir: a folder named after it
    assert sorted(p.name for p in (out / "big").iterdir()) == [f"part{i:03}.bin" for i in range(300)]
