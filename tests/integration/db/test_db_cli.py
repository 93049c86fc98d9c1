"""``aetherflow run`` end to end with DB steps against the real PostgreSQL server: outputs, retries, no-data skips."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.servers.postgres import PostgresServer, free_port
from tests.support.cli import FlowRun, make_flow

pytestmark = pytest.mark.servers


def db_flow(tmp_path: Path, url: str, steps: str) -> FlowRun:
    return make_flow(
        tmp_path,
        f"""
        version: 1
        flow:
          id: db_e2e
          workspace: {{cleanup_policy: never}}
        resources:
          warehouse: {{kind: db, driver: sqlalchemy, config: {{url: "{url}"}}}}
        jobs:
          - id: extract
            steps:
{steps}
        """,
    )


def artifacts(flow: FlowRun, run_id: str = "r1") -> Path:
    return flow.work / "db_e2e" / "extract" / run_id / "artifacts"


@pytest.fixture
def sales(postgres: PostgresServer) -> PostgresServer:
    postgres.execute(
        "CREATE TABLE sales (id int8, region text, amount numeric(10,2))",
        "INSERT INTO sales VALUES (1, 'north', 10.50), (2, 'south, east', 3.25), (3, 'north', NULL)",
    )
    return postgres


def test_run_extracts_postgres_rows_to_csv_and_tsv(tmp_path: Path, sales: PostgresServer) -> None:
    flow = db_flow(
        tmp_path,
        sales.url(),
        """              - id: stream
                type: db_extract_stream
                inputs: {resource: warehouse, sql: "SELECT * FROM sales WHERE region = :r ORDER BY id",
                         params: {r: north}, output: north.csv, format: csv}
              - id: plain
                type: db_extract
                inputs: {resource: warehouse, sql: "SELECT id, region FROM sales ORDER BY id", output: all.tsv}""",
    )

    result = flow.run()

    assert result.code == 0, result.stderr
    csv_path = artifacts(flow) / "north.csv"
    assert csv_path.read_text() == "id,region,amount\n1,north,10.50\n3,north,\n"
    assert (artifacts(flow) / "all.tsv").read_text() == "id\tregion\n1\tnorth\n2\tsouth, east\n3\tnorth\n"
    [(outputs,)] = flow.query("SELECT outputs_json FROM step_runs WHERE step_id = 'stream'")
    recorded = json.loads(outputs)
    assert recorded["row_count"] == 2
    assert recorded["sha256"] == hashlib.sha256(csv_path.read_bytes()).hexdigest()


def test_a_refused_connection_is_retried_by_the_step_retry_policy(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://app:pw-never-logged@127.0.0.1:{free_port()}/db"
    flow = db_flow(
        tmp_path,
        url,
        """              - id: pull
                type: db_extract
                inputs: {resource: warehouse, sql: "SELECT 1 AS x", output: x.tsv}
                retry: {max_attempts: 3, backoff_seconds: 0}""",
    )

    result = flow.run()

    assert result.code == 1
    [(status, attempts, error)] = flow.query("SELECT status, attempts, error FROM step_runs")
    assert (status, attempts) == ("FAILED", 3)
    assert error.startswith("ConnectorError: cannot connect to db resource 'warehouse'")
    assert "pw-never-logged" not in error
    assert "pw-never-logged" not in result.stderr


def test_bad_sql_fails_at_once_despite_a_retry_policy(tmp_path: Path, sales: PostgresServer) -> None:
    flow = db_flow(
        tmp_path,
        sales.url(),
        """              - id: pull
                type: db_extract_stream
                inputs: {resource: warehouse, sql: "SELECT * FROM missing_table", output: x.csv, format: csv}
                retry: {max_attempts: 3, backoff_seconds: 0}""",
    )

    result = flow.run()

    assert result.code == 3  # permanent: retrying cannot help
    [(status, attempts, error)] = flow.query("SELECT status, attempts, error FROM step_runs")
    assert (status, attempts) == ("FAILED", 1)
    assert 'UndefinedTable: relation "missing_table" does not exist' in error
    assert not (artifacts(flow) / "x.csv").exists()
    assert not (artifacts(flow) / "x.csv.tmp").exists()


def test_an_empty_extract_with_skip_if_empty_skips_the_rest_of_the_job(tmp_path: Path, sales: PostgresServer) -> None:
    flow = db_flow(
        tmp_path,
        sales.url(),
        """              - id: pull
                type: db_extract
                inputs: {resource: warehouse, sql: "SELECT * FROM sales WHERE false", output: none.tsv,
                         skip_if_empty: true}
                on_no_data: skip_job
              - id: never
                type: db_fetch_small
                inputs: {resource: warehouse, sql: "SELECT * FROM missing_table"}""",
    )

    result = flow.run()

    assert result.code == 0, result.stderr
    assert flow.query("SELECT status FROM job_runs") == [("SKIPPED",)]
    assert flow.query("SELECT step_id, status FROM step_runs ORDER BY step_id") == [
        ("never", "SKIPPED"),
        ("pull", "SKIPPED"),
    ]
