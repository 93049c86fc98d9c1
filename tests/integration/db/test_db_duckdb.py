"""``db:duckdb`` (extra ``duckdb``): the DB steps on a real embedded DuckDB database, and its config checks."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aetherflow.api import ConnectorError
from aetherflow.spec.resources import ResolvedResource
from tests.integration.db.conftest import DbHarness
from tests.support.cli import make_flow

duckdb = pytest.importorskip("duckdb")


@pytest.fixture
def duck_file(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "app.duckdb"
    path.parent.mkdir()
    conn = duckdb.connect(str(path))
    conn.execute("CREATE TABLE people (id INTEGER, name VARCHAR, score DOUBLE, born DATE)")
    conn.execute(
        "INSERT INTO people VALUES (1, 'ann', 1.5, DATE '2024-01-01'), (2, 'bob, \"the builder\"', 3.0, NULL),"
        " (3, 'Zoë' || chr(10) || 'tab' || chr(9), NULL, DATE '2000-02-29')"
    )
    conn.close()
    return path


def duck(path: Path | str, **config: object) -> ResolvedResource:
    return ResolvedResource("ducks", "db", "duckdb", {"path": str(path), **config})


@pytest.fixture
def harness(duck_file: Path, harness_factory: Callable[[ResolvedResource], DbHarness]) -> DbHarness:
    return harness_factory(duck(duck_file))


def test_db_extract_stream_writes_duckdb_rows_as_csv_with_dollar_parameters(harness: DbHarness) -> None:
    result = harness.run(
        "db_extract_stream",
        sql="SELECT id, name, score, born FROM people WHERE id >= $low ORDER BY id",
        params={"low": 2},
        output="p.csv",
        format="csv",
        emit_dtypes=True,
    )

    assert (harness.artifacts / "p.csv").read_bytes() == (
        'id,name,score,born\n2,"bob, ""the builder""",3.0,\n3,"Zoë\ntab\t",,2000-02-29\n'.encode()
    )
    assert result.output["row_count"] == 2
    assert result.output["dtypes"] == {"id": "int", "name": "string", "score": "float", "born": "date"}


def test_db_fetch_small_returns_duckdb_rows_in_batches_of_fetch_size(harness: DbHarness) -> None:
    result = harness.run("db_fetch_small", sql="SELECT id FROM range(1, 11) t(id) ORDER BY id", fetch_size=3)

    assert result.output["rows"] == [[i] for i in range(1, 11)]


def test_a_memory_database_keeps_its_tables_between_steps(harness_factory: Callable[..., DbHarness]) -> None:
    h = harness_factory(ResolvedResource("mem", "db", "duckdb", {}))
    assert h.connector().execute("CREATE TABLE t (answer INTEGER)") == -1
    assert h.connector().execute("INSERT INTO t SELECT 42") == 1
    assert h.connector().execute("INSERT INTO t VALUES (1), (2)") == 2

    result = h.run("db_fetch_small", sql="SELECT answer FROM t ORDER BY answer")

    assert result.output["rows"] == [[1], [2], [42]]


def test_bad_sql_is_a_permanent_error_naming_the_resource(harness: DbHarness) -> None:
    with pytest.raises(ConnectorError) as caught:
        harness.run("db_extract_stream", sql="SELECT * FROM missing_table", output="x.csv", format="csv")

    assert "query failed on db resource 'ducks' (duckdb " in str(caught.value)
    assert "CatalogException" in str(caught.value)
    assert not caught.value.transient
    assert not (harness.artifacts / "x.csv").exists()


def test_a_read_only_database_refuses_writes(duck_file: Path, harness_factory: Callable[..., DbHarness]) -> None:
    h = harness_factory(duck(duck_file, read_only=True))

    with pytest.raises(ConnectorError, match="read-only"):
        h.connector().execute("DELETE FROM people")
    assert h.run("db_fetch_small", sql="SELECT count(*) FROM people").output["rows"] == [[3]]


def test_pragmas_are_set_when_the_connection_opens(harness_factory: Callable[..., DbHarness], tmp_path: Path) -> None:
    res = ResolvedResource("d", "db", "duckdb", {"path": str(tmp_path / "p.duckdb")}, {"pragmas": {"threads": 1}})
    h = harness_factory(res)

    assert h.run("db_fetch_small", sql="SELECT current_setting('threads')").output["rows"] == [[1]]


def test_a_pragma_value_with_quotes_stays_one_value(harness_factory: Callable[..., DbHarness], tmp_path: Path) -> None:
    hostile = "1GB'; CREATE TABLE pwned(x INT); --"
    res = ResolvedResource(
        "d", "db", "duckdb", {"path": str(tmp_path / "q.duckdb")}, {"pragmas": {"memory_limit": hostile}}
    )
    h = harness_factory(res)

    with pytest.raises(ConnectorError, match="cannot set pragma 'memory_limit'") as caught:
        h.connector().connect()
    assert not caught.value.transient
    conn = duckdb.connect(str(tmp_path / "q.duckdb"))
    assert conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'pwned'").fetchone() == (0,)
    conn.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"pragmas": {"threads; DROP": 1}}, "invalid pragma name"),
        ({"pragmas": ["threads"]}, "options.pragmas must be a mapping"),
        ({"extensions": "json"}, "options.extensions must be a list"),
        ({"extensions": ["json; LOAD x"]}, "options.extensions must be a list"),
    ],
)
def test_malformed_options_are_refused_before_connecting(
    harness_factory: Callable[..., DbHarness], options: dict[str, object], message: str
) -> None:
    h = harness_factory(ResolvedResource("d", "db", "duckdb", {}, options))

    with pytest.raises(ConnectorError, match=message):
        h.connector()


def test_a_built_in_extension_is_loaded(harness_factory: Callable[..., DbHarness]) -> None:
    h = harness_factory(ResolvedResource("d", "db", "duckdb", {}, {"extensions": ["json"]}))

    result = h.run("db_fetch_small", sql="SELECT json_extract('{\"a\": 7}', '$.a')::INT AS a")

    assert result.output["rows"] == [[7]]


@pytest.fixture
def locked_by_another_process(duck_file: Path) -> Iterator[Path]:
    code = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read()"
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(duck_file)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
    yield duck_file
    assert holder.stdin is not None
    holder.stdin.close()
    holder.wait(timeout=30)


def test_a_file_locked_by_another_process_is_a_transient_connect_error(
    locked_by_another_process: Path, harness_factory: Callable[..., DbHarness]
) -> None:
    h = harness_factory(duck(locked_by_another_process))

    with pytest.raises(ConnectorError) as caught:
        h.run("db_fetch_small", sql="SELECT 1")

    assert caught.value.transient
    assert str(caught.value).startswith("cannot connect to db resource 'ducks' (duckdb ")


def test_a_missing_directory_is_a_permanent_connect_error(
    tmp_path: Path, harness_factory: Callable[..., DbHarness]
) -> None:
    h = harness_factory(duck(tmp_path / "no" / "such" / "dir" / "x.duckdb"))

    with pytest.raises(ConnectorError) as caught:
        h.run("db_fetch_small", sql="SELECT 1")

    assert not caught.value.transient


def test_without_duckdb_the_error_names_the_extra(harness: DbHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "duckdb", None)

    with pytest.raises(ConnectorError, match=r"install the 'duckdb' extra \(pip install 'aetherflow\[duckdb\]'\)"):
        harness.run("db_fetch_small", sql="SELECT 1")


def test_run_extracts_a_duckdb_query_end_to_end(tmp_path: Path, duck_file: Path) -> None:
    flow = make_flow(
        tmp_path,
        f"""
        version: 1
        flow:
          id: duck_e2e
          workspace: {{cleanup_policy: never}}
        resources:
          ducks: {{kind: db, driver: duckdb, config: {{path: "{duck_file}", read_only: true}}}}
        jobs:
          - id: extract
            steps:
              - id: stream
                type: db_extract_stream
                inputs: {{resource: ducks, sql: "SELECT id, name FROM people WHERE id < 3 ORDER BY id",
                         output: p.tsv}}
        """,
    )

    result = flow.run()

    assert result.code == 0, result.stderr
    out = flow.work / "duck_e2e" / "extract" / "r1" / "artifacts" / "p.tsv"
    assert out.read_text() == 'id\tname\n1\tann\n2\t"bob, ""the builder"""\n'
