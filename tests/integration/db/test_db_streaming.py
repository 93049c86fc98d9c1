"""How ``db:sqlalchemy`` streams rows: plain tuples from the DBAPI cursor, a server-side cursor on PostgreSQL, the
stdlib driver (and no SQLAlchemy import) for a SQLite file URL, and connections released however the stream ends."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from aetherflow.api import ConnectorError
from aetherflow.spec.resources import ResolvedResource
from tests.integration.db.conftest import DbHarness
from tests.servers.postgres import PostgresServer
from tests.support.cli import clean_env, write_flow


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "s.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, name TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"n{i}") for i in range(1, 8)])
    conn.close()
    return path


def sa(url: str) -> ResolvedResource:
    return ResolvedResource("wh", "db", "sqlalchemy", {"url": url})


@pytest.mark.parametrize("driver", ["postgresql+psycopg", "postgresql+psycopg2"])
def test_postgres_rows_come_as_plain_tuples_from_a_server_side_cursor(
    postgres: PostgresServer, harness_factory: Callable[..., DbHarness], driver: str
) -> None:
    postgres.execute("CREATE TABLE big AS SELECT g AS id, 'x' || g AS name FROM generate_series(1, 25) g")
    h = harness_factory(sa(postgres.url(driver)))

    sql = "SELECT id, name FROM big WHERE id > :low ORDER BY id"
    columns, batches = h.connector().fetch_batches(sql, {"low": 5}, 8)
    first = next(batches)
    # While the stream is open, the server holds a cursor for it: the client never has more than one batch.
    with postgres.connect() as admin:
        open_cursors = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query ~* '^(DECLARE|FETCH)'"
        ).fetchall()
    rest = [row for batch in batches for row in batch]

    assert columns == ["id", "name"]
    assert [type(row) for row in first] == [tuple] * 8
    assert first[0] == (6, "x6") and rest[-1] == (25, "x25") and len(first) + len(rest) == 20
    assert open_cursors == [(1,)]


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///{file}", "postgres"])
def test_closing_a_stream_before_reading_it_returns_the_connection(
    url: str, sqlite_file: Path, harness_factory: Callable[..., DbHarness], request: pytest.FixtureRequest
) -> None:
    if url == "postgres":
        url = request.getfixturevalue("postgres").url()
    h = harness_factory(sa(url.format(file=sqlite_file)))
    connector = h.connector()

    for _ in range(30):  # more than the pool holds (5 + 10 overflow): a leak would block or fail
        _columns, batches = connector.fetch_batches("SELECT 1 AS x", {}, 10)
        batches.close()

    assert connector.fetch_batches("SELECT 2 AS x", {}, 10)[1].__next__() == [(2,)]
    if url.startswith("postgres"):
        assert connector.engine().pool.checkedout() == 1


def test_a_sqlite_file_url_gives_the_same_rows_and_errors_naming_the_url(
    sqlite_file: Path, harness_factory: Callable[..., DbHarness]
) -> None:
    h = harness_factory(sa(f"sqlite:///{sqlite_file}"))

    result = h.run("db_fetch_small", sql="SELECT id, name FROM t WHERE id > :low ORDER BY id", params={"low": 5})
    with pytest.raises(ConnectorError) as caught:
        h.run("db_fetch_small", sql="SELECT * FROM missing")

    assert result.output["rows"] == [[6, "n6"], [7, "n7"]]
    assert str(caught.value) == (
        f"query failed on db resource 'wh' (sqlite:///{sqlite_file}): OperationalError: no such table: missing"
    )
    assert h.connector().execute("DELETE FROM t WHERE id > :low", {"low": 3}) == 4


def test_a_run_extracting_from_a_sqlite_file_url_never_imports_sqlalchemy(tmp_path: Path, sqlite_file: Path) -> None:
    flow = write_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: lean, workspace: {{cleanup_policy: never}}}}
        resources:
          wh: {{kind: db, driver: sqlalchemy, config: {{url: "sqlite:///{sqlite_file}"}}}}
        jobs:
          - id: j
            steps:
              - {{id: s, type: db_extract_stream, inputs: {{resource: wh, sql: "SELECT * FROM t", output: t.csv}}}}
        """,
    )
    code = textwrap.dedent(
        """
        import atexit, sys
        atexit.register(lambda: print("imported:", "sqlalchemy" in sys.modules, file=sys.stderr))
        sys.argv = ["aetherflow", *sys.argv[1:]]
        from aetherflow.cli import run
        run()
        """
    )
    argv = [sys.executable, "-c", code, "run", "--flow-yaml", str(flow), "--state", str(tmp_path / "state.db")]
    done = subprocess.run(
        [*argv, "--work-root", str(tmp_path / "work")], capture_output=True, text=True, env=clean_env(), timeout=120
    )

    assert done.returncode == 0, done.stderr
    assert "imported: False" in done.stderr
    [out] = (tmp_path / "work").rglob("t.csv")
    assert out.read_text().splitlines()[:2] == ["id\tname", "1\tn1"]
