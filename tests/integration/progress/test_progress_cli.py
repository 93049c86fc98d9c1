"""``step_progress`` end to end through ``aetherflow run``: a 1,000,000-row extract, SFTP and S3 transfers against the
real servers, and zip/unzip of a large file each log their rows or bytes with a rate, in JSON and text logs; a step
that finishes within the interval logs none."""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

import pytest

from tests.servers.s3 import S3_ACCESS_KEY, S3_SECRET_KEY, S3Server
from tests.servers.sshd import SshdServer
from tests.support.cli import CliResult, FlowRun, make_flow

MILLION = 1_000_000
TINY = "0.01"  # seconds: every transfer below takes longer than this


@pytest.fixture(scope="module")
def million_rows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("progress-db") / "source.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE sales (id INTEGER, region TEXT, amount REAL)")
        conn.execute(
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?) "
            "INSERT INTO sales SELECT x, 'region-' || (x % 7), x * 0.25 FROM n",
            (MILLION,),
        )
    return path


def extract_flow(tmp_path: Path, db: Path) -> FlowRun:
    return make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: progress_db}}
        resources:
          source: {{kind: db, driver: sqlite3, config: {{path: "{db}"}}}}
        jobs:
          - id: extract
            steps:
              - id: dump
                type: db_extract
                inputs: {{resource: source, sql: "SELECT id, region, amount FROM sales", output: sales.tsv}}
        """,
    )


def progress_of(result: CliResult, step_id: str) -> list[dict[str, object]]:
    assert result.code == 0, result.stderr
    return [e for e in result.event("step_progress") if e["step_id"] == step_id]


def test_a_million_row_extract_logs_rows_done_and_the_rate_in_json(tmp_path: Path, million_rows: Path) -> None:
    result = extract_flow(tmp_path, million_rows).run(env={"AETHERFLOW_PROGRESS_SECONDS": "1"})

    events = progress_of(result, "dump")
    assert events, "no step_progress event in: " + result.stderr[-2000:]
    first = events[0]
    assert (first["flow_id"], first["run_id"], first["job_id"], first["step_type"]) == (
        "progress_db",
        "r1",
        "extract",
        "db_extract",
    )
    assert first["unit"] == "rows"
    assert 0 < int(str(first["done"])) < MILLION
    assert float(str(first["rate"])) > 0
    assert float(str(first["elapsed_seconds"])) >= 1
    assert "total" not in first  # a query's row count is not known before the last row
    dones = [int(str(e["done"])) for e in events]
    assert dones == sorted(dones)


def test_a_million_row_extract_logs_one_progress_line_per_report_in_text_mode(
    tmp_path: Path, million_rows: Path
) -> None:
    result = extract_flow(tmp_path, million_rows).run(
        env={"AETHERFLOW_PROGRESS_SECONDS": "1", "AETHERFLOW_LOG_FORMAT": "text"}
    )

    assert result.code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if " step_progress " in line]
    assert lines, result.stderr[-2000:]
    pattern = (
        r"^\S+Z INFO step_progress flow_id=progress_db run_id=r1 job_id=extract step_id=dump step_type=db_extract "
        r"unit=rows done=\d+ rate=[0-9.]+ elapsed_seconds=[0-9.]+$"
    )
    assert all(re.match(pattern, line) for line in lines), lines


def test_a_fast_extract_logs_no_progress_with_the_default_interval(tmp_path: Path) -> None:
    db = tmp_path / "small.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE sales (id INTEGER, region TEXT, amount REAL)")
        conn.executemany("INSERT INTO sales VALUES (?, 'north', 1.5)", [(i,) for i in range(5000)])

    result = extract_flow(tmp_path, db).run()

    assert result.code == 0, result.stderr
    assert result.event("step_progress") == []
    assert "step_progress" not in result.stderr


def test_an_interval_of_zero_turns_progress_off_even_for_a_long_extract(tmp_path: Path, million_rows: Path) -> None:
    result = extract_flow(tmp_path, million_rows).run(env={"AETHERFLOW_PROGRESS_SECONDS": "0"})

    assert result.code == 0, result.stderr
    assert result.event("step_progress") == []


def test_a_negative_interval_is_refused_naming_the_setting(tmp_path: Path, million_rows: Path) -> None:
    result = extract_flow(tmp_path, million_rows).run(env={"AETHERFLOW_PROGRESS_SECONDS": "-1"})

    assert result.code == 2
    assert "AETHERFLOW_PROGRESS_SECONDS" in result.stderr
    assert "Traceback" not in result.stderr


def assert_byte_progress(result: CliResult, step_id: str, total: int | None) -> None:
    events = progress_of(result, step_id)
    assert events, f"no step_progress of {step_id} in: " + result.stderr[-2000:]
    for event in events:
        assert event["unit"] == "bytes"
        assert 0 < int(str(event["done"])) <= (total or 1 << 62)
        assert float(str(event["rate"])) > 0
        assert event.get("total") == total


def test_sftp_upload_and_download_log_byte_progress(tmp_path: Path, sshd_server: SshdServer, sftp_dir: str) -> None:
    size = 8 * 1024 * 1024
    flow = make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: progress_sftp}}
        resources:
          partner:
            kind: sftp
            driver: paramiko
            config:
              host: 127.0.0.1
              port: {sshd_server.port}
              user: {sshd_server.user}
              pkey_path: "{sshd_server.client_key}"
              known_hosts: "{{{{env.PARTNER_KNOWN_HOSTS}}}}"
            options: {{timeout: 10}}
        jobs:
          - id: sync
            steps:
              - id: make
                type: external.process
                inputs: {{command: ["/bin/sh", "-c", "head -c {size} /dev/urandom > big.bin"], cwd: "."}}
              - id: put
                type: sftp_upload_files
                inputs: {{resource: partner, items: big.bin, remote_dir: "{sftp_dir}"}}
              - id: list
                type: sftp_list_files
                inputs: {{resource: partner, remote_dir: "{sftp_dir}"}}
              - id: get
                type: sftp_download_files
                inputs: {{resource: partner, files: "{{{{steps.list.files}}}}", dest_dir: back}}
        """,
    )

    result = flow.run(env={"PARTNER_KNOWN_HOSTS": sshd_server.known_hosts, "AETHERFLOW_PROGRESS_SECONDS": TINY})

    assert_byte_progress(result, "put", size)
    assert_byte_progress(result, "get", size)  # the listing's sizes give the total


def test_s3_multipart_upload_and_download_log_byte_progress(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    size = 12 * 1024 * 1024  # above 8 MiB: a multipart upload, its parts reported from several threads
    flow = make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: progress_s3}}
        resources:
          lake:
            kind: s3
            driver: boto3
            config:
              bucket: {s3_bucket}
              endpoint_url: "{s3_server.endpoint_url}"
              region: us-east-1
              access_key_id: "{{{{env.LAKE_KEY_ID}}}}"
              secret_access_key: "{{{{env.LAKE_SECRET}}}}"
            options: {{retries: {{max_attempts: 1}}}}
        jobs:
          - id: ship
            steps:
              - id: make
                type: external.process
                inputs: {{command: ["/bin/sh", "-c", "head -c {size} /dev/urandom > big.bin"], cwd: "."}}
              - id: push
                type: s3_upload_files
                inputs: {{resource: lake, items: big.bin, prefix: "daily/"}}
              - id: pull
                type: s3_download_files
                inputs: {{resource: lake, files: ["daily/big.bin"], dest_dir: back}}
        """,
    )

    result = flow.run(
        env={"LAKE_KEY_ID": S3_ACCESS_KEY, "LAKE_SECRET": S3_SECRET_KEY, "AETHERFLOW_PROGRESS_SECONDS": TINY}
    )

    assert_byte_progress(result, "push", size)
    assert_byte_progress(result, "pull", None)  # a key string carries no size


def test_zip_and_unzip_of_a_large_file_log_byte_progress(tmp_path: Path) -> None:
    size = 32 * 1024 * 1024
    flow = make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: progress_zip, workspace: {{cleanup_policy: never}}}}
        jobs:
          - id: pack
            steps:
              - id: make
                type: external.process
                inputs: {{command: ["/bin/sh", "-c", "head -c {size} /dev/urandom > big.bin"], cwd: "."}}
              - id: zip
                type: zip
                inputs: {{dest_path: big.zip, items: [big.bin]}}
              - id: unzip
                type: unzip
                inputs: {{archives: big.zip, dest_dir: restored}}
        """,
    )

    result = flow.run(env={"AETHERFLOW_PROGRESS_SECONDS": TINY})

    assert_byte_progress(result, "zip", size)
    assert_byte_progress(result, "unzip", None)
    artifacts = flow.work / "progress_zip" / "pack" / "r1" / "artifacts"
    restored = next((artifacts / "restored").rglob("big.bin"))
    assert os.path.getsize(restored) == size
    assert restored.read_bytes() == (artifacts / "big.bin").read_bytes()
