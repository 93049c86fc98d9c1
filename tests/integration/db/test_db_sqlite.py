"""DB steps on SQLite, through both db:sqlite3 and a db:sqlalchemy ``sqlite:///`` URL (steps.md §5)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from aetherflow.api import ConnectorError, Interrupted, Status
from aetherflow.spec.resources import ResolvedResource
from tests.integration.db.conftest import DbHarness

ROWS = [
    (1, "ann", 1.5, "2024-01-01", None),
    (2, 'bob, "the builder"', 3.0, None, b"\x00\xff"),
    (3, "Zoë", None, "2000-02-29", None),
]


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "app.db"
    path.parent.mkdir()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, score REAL, born TEXT, blob BLOB)")
        conn.executemany("INSERT INTO people VALUES (?, ?, ?, ?, ?)", ROWS)
    conn.close()
    return path


def sqlite3_by_path(path: Path) -> ResolvedResource:
    return ResolvedResource("local", "db", "sqlite3", {"path": str(path)})


def sqlite3_by_url(path: Path) -> ResolvedResource:
    return ResolvedResource("local", "db", "sqlite3", {"url": f"sqlite:///{path}"})


def sqlalchemy_url(path: Path) -> ResolvedResource:
    return ResolvedResource("local", "db", "sqlalchemy", {"url": f"sqlite:///{path}"})


@pytest.fixture(params=[sqlite3_by_path, sqlite3_by_url, sqlalchemy_url], ids=["sqlite3", "sqlite3-url", "sqlalchemy"])
def harness(
    request: pytest.FixtureRequest, sqlite_file: Path, harness_factory: Callable[[ResolvedResource], DbHarness]
) -> DbHarness:
    return harness_factory(request.param(sqlite_file))


def test_db_extract_writes_tsv(harness: DbHarness) -> None:
    result = harness.run("db_extract", sql="SELECT id, name, score, born FROM people ORDER BY id", output="p.tsv")

    assert result.output == {"output": str(harness.artifacts / "p.tsv"), "format": "tsv", "rows": 3}
    assert (harness.artifacts / "p.tsv").read_text() == (
        'id\tname\tscore\tborn\n1\tann\t1.5\t2024-01-01\n2\tbob, "the builder"\t3.0\t\n3\tZoë\t\t2000-02-29\n'
    )


def test_db_extract_writes_jsonl_with_bytes_as_hex(harness: DbHarness) -> None:
    harness.run(
        "db_extract",
        sql="SELECT id, blob FROM people WHERE id = :id",
        params={"id": 2},
        output="p.jsonl",
        format="jsonl",
    )

    assert (harness.artifacts / "p.jsonl").read_text() == '{"id": 2, "blob": "00ff"}\n'


def test_db_fetch_small_returns_rows_and_dtypes(harness: DbHarness) -> None:
    result = harness.run("db_fetch_small", sql="SELECT id, name, score, born FROM people ORDER BY id")

    assert result.output["rows"] == [list(r[:4]) for r in ROWS]
    assert result.output["dtypes"] == {"id": "int", "name": "string", "score": "float", "born": "string"}
    assert json.loads(result.output["rows_json"])[2] == [3, "Zoë", None, "2000-02-29"]


def test_db_fetch_small_over_max_rows_fails_with_spec_message(harness: DbHarness) -> None:
    with pytest.raises(ValueError, match=r"^db_fetch_small exceeded max_rows=2\. Use db_extract_stream"):
        harness.run("db_fetch_small", sql="SELECT id FROM people", max_rows=2)


def test_db_extract_stream_writes_csv_with_sha256(harness: DbHarness) -> None:
    result = harness.run(
        "db_extract_stream",
        sql="SELECT id, name, score FROM people ORDER BY id",
        output="p.csv",
        format="csv",
        fetch_size=2,
    )

    path = harness.artifacts / "p.csv"
    assert path.read_text() == 'id,name,score\n1,ann,1.5\n2,"bob, ""the builder""",3.0\n3,Zoë,\n'
    assert result.output["row_count"] == 3
    assert result.output["columns"] == ["id", "name", "score"]
    assert result.output["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_db_extract_stream_writes_the_requested_encoding(harness: DbHarness) -> None:
    harness.run(
        "db_extract_stream",
        sql="SELECT name FROM people WHERE id = 3",
        output="l.csv",
        format="csv",
        encoding="latin-1",
        include_header=False,
    )

    assert (harness.artifacts / "l.csv").read_bytes() == "Zoë\n".encode("latin-1")


def test_empty_result_writes_the_header_and_succeeds(harness: DbHarness) -> None:
    result = harness.run(
        "db_extract_stream", sql="SELECT id, name FROM people WHERE id > 99", output="e.csv", format="csv"
    )

    assert result.status == Status.SUCCESS
    assert (harness.artifacts / "e.csv").read_text() == "id,name\n"


def test_empty_result_with_skip_if_empty_is_skipped(harness: DbHarness) -> None:
    result = harness.run(
        "db_extract_stream", sql="SELECT id FROM people WHERE id > 99", output="e.csv", skip_if_empty=True
    )

    assert result.status == Status.SKIPPED
    assert result.output["reason"] == "no_rows"
    assert result.output["row_count"] == 0


@pytest.mark.parametrize("step", ["db_extract", "db_extract_stream"])
def test_bad_sql_fails_permanently_and_leaves_no_file(harness: DbHarness, step: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        harness.run(step, sql="SELECT nope FROM people", output="bad.tsv")

    assert caught.value.transient is False
    assert "query failed on db resource 'local'" in str(caught.value)
    assert "no such column: nope" in str(caught.value)
    assert list(harness.artifacts.iterdir()) == []


def test_missing_parameter_is_a_permanent_error(harness: DbHarness) -> None:
    with pytest.raises(ConnectorError) as caught:
        harness.run("db_fetch_small", sql="SELECT id FROM people WHERE id = :id")

    assert caught.value.transient is False


def test_stop_request_interrupts_a_running_statement(harness: DbHarness) -> None:
    endless = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT count(*) FROM c"
    stop = threading.Timer(0.3, harness.ctx.cancelled.set)
    stop.start()

    with pytest.raises(Interrupted):
        harness.run("db_fetch_small", sql=endless)


def test_execute_commits_and_returns_the_rowcount(harness: DbHarness, sqlite_file: Path) -> None:
    count = harness.connector().execute("UPDATE people SET score = :s WHERE id < :id", {"s": 9.5, "id": 3})

    with sqlite3.connect(sqlite_file) as conn:
        scores = conn.execute("SELECT score FROM people ORDER BY id").fetchall()
    conn.close()
    assert count == 2
    assert scores == [(9.5,), (9.5,), (None,)]


def test_sqlite3_resource_without_path_or_url_is_a_connector_error(
    harness_factory: Callable[[ResolvedResource], DbHarness],
) -> None:
    harness = harness_factory(ResolvedResource("local", "db", "sqlite3", {}))

    with pytest.raises(ConnectorError, match=r"needs config.path or config.url 'sqlite:///<path>'"):
        harness.run("db_fetch_small", sql="SELECT 1")
