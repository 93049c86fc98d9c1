"""DB steps and the db:sqlalchemy connector against a real PostgreSQL server (steps.md §5)."""

from __future__ import annotations

import csv
import io
import json
import sys
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from aetherflow.api import ConnectorError, Interrupted, Status, StepFailed
from aetherflow.errors import error_text
from aetherflow.spec.resources import ResolvedResource
from tests.integration.db.conftest import DbHarness
from tests.servers.postgres import PostgresServer, free_port

pytestmark = pytest.mark.servers

PEOPLE = [
    "CREATE TABLE people (id int8 PRIMARY KEY, name text, score numeric(6,2), born date, active bool,"
    " seen timestamp, seen_tz timestamptz, ref uuid, code varchar(10))",
    "INSERT INTO people VALUES"
    " (1, 'ann', 1.50, '1990-01-02', true, '2024-01-01 10:00:00', '2024-01-01 10:00:00+00',"
    "  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'A'),"
    " (2, 'bob, \"the builder\"', 3.00, NULL, false, '2024-01-01 10:00:00.5', '2024-06-01 10:00:00.123456+02',"
    "  NULL, ''),"
    " (3, 'Zoë', NULL, '2000-02-29', NULL, NULL, NULL, NULL, NULL),"
    " (4, '', -0.25, '0999-12-31', true, '1999-12-31 23:59:59.999999', '1999-12-31 23:59:59+00',"
    "  '00000000-0000-0000-0000-000000000000', 'x;y|z'),"
    " (5, E'two\\nlines\\tand tab', 100.00, '2024-02-29', false, '2024-02-29 00:00:00',"
    "  '2024-02-29 00:00:00.000001+00', NULL, 'q\"')",
]


@pytest.fixture
def pg(postgres: PostgresServer) -> PostgresServer:
    postgres.execute(*PEOPLE)
    return postgres


def pg_resource(server: PostgresServer, driver: str = "postgresql+psycopg", **options: Any) -> ResolvedResource:
    return ResolvedResource("warehouse", "db", "sqlalchemy", {"url": server.url(driver)}, options)


@pytest.fixture
def harness(pg: PostgresServer, harness_factory: Callable[[ResolvedResource], DbHarness]) -> DbHarness:
    return harness_factory(pg_resource(pg))


def csv_of_driver_rows(harness: DbHarness, sql: str, **writer_options: Any) -> str:
    """What the spec says the CSV is: a standard csv writer over the driver's values, null -> empty."""
    columns, batches = harness.connector().fetch_batches(sql, {}, 1000)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n", **writer_options)
    writer.writerow(columns)
    for batch in batches:
        writer.writerows(batch)
    return buffer.getvalue()


# -- db_extract -----------------------------------------------------------------------------------------------------
def test_db_extract_writes_tsv_with_header_and_python_str_values(harness: DbHarness) -> None:
    result = harness.run(
        "db_extract",
        sql="SELECT id, name, score, born, active FROM people WHERE id <= 3 ORDER BY id",
        output="out/people.tsv",
    )

    path = harness.artifacts / "out/people.tsv"
    assert result.status == Status.SUCCESS
    assert result.output == {"output": str(path), "format": "tsv", "rows": 3}
    assert path.read_text(encoding="utf-8") == (
        "id\tname\tscore\tborn\tactive\n"
        "1\tann\t1.50\t1990-01-02\tTrue\n"
        '2\tbob, "the builder"\t3.00\t\tFalse\n'
        "3\tZoë\t\t2000-02-29\t\n"
    )


def test_db_extract_tsv_writes_tabs_and_newlines_in_values_unescaped(harness: DbHarness) -> None:
    harness.run("db_extract", sql="SELECT id, name FROM people WHERE id = 5", output="raw.tsv")

    assert (harness.artifacts / "raw.tsv").read_text() == "id\tname\n5\ttwo\nlines\tand tab\n"


def test_db_extract_writes_jsonl_objects_with_iso_dates_and_decimal_numbers(harness: DbHarness) -> None:
    sql = "SELECT id, name, score, born, seen FROM people WHERE id IN (1, 3) ORDER BY id"

    result = harness.run("db_extract", sql=sql, output="people.jsonl", format="JSONL")

    lines = (harness.artifacts / "people.jsonl").read_text(encoding="utf-8").splitlines()
    assert result.output["format"] == "jsonl"
    assert lines == [
        '{"id": 1, "name": "ann", "score": 1.5, "born": "1990-01-02", "seen": "2024-01-01T10:00:00"}',
        '{"id": 3, "name": "Zoë", "score": null, "born": "2000-02-29", "seen": null}',
    ]


def test_db_extract_binds_named_params_safely(harness: DbHarness) -> None:
    sql = "SELECT id, :tag AS tag FROM people WHERE id = :id"

    harness.run("db_extract", sql=sql, params={"id": 2, "tag": "it's; --"}, output="p.tsv")

    assert (harness.artifacts / "p.tsv").read_text() == "id\ttag\n2\tit's; --\n"


def test_db_extract_rejects_unknown_format_with_spec_message(harness: DbHarness) -> None:
    with pytest.raises(ValueError, match=r"^Unsupported format: xml$"):
        harness.run("db_extract", sql="SELECT 1", output="x.xml", format="xml")


# -- db_fetch_small -------------------------------------------------------------------------------------------------
def test_db_fetch_small_returns_rows_json_and_dtypes(harness: DbHarness) -> None:
    result = harness.run(
        "db_fetch_small", sql="SELECT id, name, score, born, active, seen FROM people WHERE id IN (1, 3) ORDER BY id"
    )

    out = result.output
    assert out["columns"] == ["id", "name", "score", "born", "active", "seen"]
    assert out["row_count"] == 2
    assert out["rows"][0][:3] == [1, "ann", Decimal("1.50")]
    assert out["columns_json"] == '["id", "name", "score", "born", "active", "seen"]'
    assert json.loads(out["rows_json"]) == [
        [1, "ann", 1.5, "1990-01-02", True, "2024-01-01T10:00:00"],
        [3, "Zoë", None, "2000-02-29", None, None],
    ]
    assert out["dtypes"] == {
        "id": "int",
        "name": "string",
        "score": "float",
        "born": "date",
        "active": "bool",
        "seen": "datetime",
    }
    assert json.loads(out["dtypes_json"]) == out["dtypes"]


def test_db_fetch_small_over_max_rows_fails_with_spec_message(harness: DbHarness) -> None:
    expected = r"^db_fetch_small exceeded max_rows=4\. Use db_extract_stream for large results\.$"

    with pytest.raises(ValueError, match=expected):
        harness.run("db_fetch_small", sql="SELECT id FROM people", max_rows="4", fetch_size=2)


def test_db_fetch_small_at_exactly_max_rows_succeeds(harness: DbHarness) -> None:
    result = harness.run("db_fetch_small", sql="SELECT id FROM people ORDER BY id", max_rows=5, fetch_size=2)

    assert result.output["rows"] == [[1], [2], [3], [4], [5]]


# -- db_extract_stream ----------------------------------------------------------------------------------------------
ALL_TYPES = "SELECT id, name, score, born, active, seen, seen_tz, ref, code FROM people ORDER BY id"


@pytest.mark.parametrize("driver", ["postgresql+psycopg", "postgresql+psycopg2"])
def test_copy_fast_path_writes_exactly_what_the_csv_writer_writes_from_driver_rows(
    pg: PostgresServer, harness_factory: Callable[[ResolvedResource], DbHarness], driver: str
) -> None:
    harness = harness_factory(pg_resource(pg, driver))
    buffer = io.BytesIO()

    used = harness.connector().export_csv(ALL_TYPES, {}, buffer, delimiter=",", header=True)

    assert used == (["id", "name", "score", "born", "active", "seen", "seen_tz", "ref", "code"], 5)
    assert buffer.getvalue().decode() == csv_of_driver_rows(harness, ALL_TYPES)


def test_copy_fast_path_renders_offsets_of_the_session_time_zone(
    pg: PostgresServer, harness_factory: Callable[[ResolvedResource], DbHarness]
) -> None:
    harness = harness_factory(pg_resource(pg, connect_args={"options": "-c timezone=Asia/Kolkata"}))
    sql = "SELECT id, seen_tz FROM people ORDER BY id"
    buffer = io.BytesIO()

    harness.connector().export_csv(sql, {}, buffer, delimiter="\t", header=False)

    assert "+05:30" in buffer.getvalue().decode()
    assert buffer.getvalue().decode() == csv_of_driver_rows(harness, sql, delimiter="\t").split("\n", 1)[1]


def test_copy_fast_path_declines_types_postgres_renders_differently(harness: DbHarness) -> None:
    buffer = io.BytesIO()

    used = harness.connector().export_csv("SELECT id, 2.5::float8 AS f FROM people", {}, buffer)

    assert used is None
    assert buffer.getvalue() == b""


def test_db_extract_stream_csv_output_and_sha256(harness: DbHarness) -> None:
    import hashlib

    result = harness.run("db_extract_stream", sql=ALL_TYPES, output="exports/people.csv", format="csv")

    path = harness.artifacts / "exports/people.csv"
    assert result.status == Status.SUCCESS
    assert result.output == {
        "artifact_path": str(path),
        "format": "csv",
        "columns": ["id", "name", "score", "born", "active", "seen", "seen_tz", "ref", "code"],
        "row_count": 5,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    assert path.read_text() == csv_of_driver_rows(harness, ALL_TYPES)


def test_db_extract_stream_binds_params_on_the_fast_path(harness: DbHarness) -> None:
    harness.run(
        "db_extract_stream",
        sql="SELECT id, name FROM people WHERE name = :n OR id = :i",
        params={"n": 'bob, "the builder"', "i": "1"},
        output="p.csv",
        format="csv",
    )

    assert (harness.artifacts / "p.csv").read_text() == 'id,name\n1,ann\n2,"bob, ""the builder"""\n'


def test_db_extract_stream_honours_quoting_delimiter_and_nested_file_options(harness: DbHarness) -> None:
    harness.run(
        "db_extract_stream",
        sql="SELECT id, name, score FROM people WHERE id <= 2 ORDER BY id",
        output="q.csv",
        format="csv",
        quoting="all",
        file={"delimiter": ";", "linefeed": "\r\n", "quoting": "none"},
    )

    assert (harness.artifacts / "q.csv").read_bytes() == (
        b'"id";"name";"score"\r\n"1";"ann";"1.50"\r\n"2";"bob, ""the builder""";"3.00"\r\n'
    )


def test_db_extract_stream_tsv_without_header_uses_csv_quoting(harness: DbHarness) -> None:
    harness.run(
        "db_extract_stream",
        sql="SELECT id, name FROM people WHERE id IN (2, 5) ORDER BY id",
        output="t.tsv",
        include_header="false",
    )

    assert (harness.artifacts / "t.tsv").read_text() == '2\t"bob, ""the builder"""\n5\t"two\nlines\tand tab"\n'


def test_db_extract_stream_emits_dtypes_with_given_ones_winning(harness: DbHarness) -> None:
    result = harness.run(
        "db_extract_stream",
        sql="SELECT id, name, born FROM people ORDER BY id",
        output="d.csv",
        format="csv",
        emit_dtypes=True,
        dtypes_json='{"id": "string"}',
    )

    assert result.output["dtypes"] == {"id": "string", "name": "string", "born": "date"}
    assert json.loads(result.output["dtypes_json"]) == result.output["dtypes"]


def test_db_extract_stream_rejects_dtypes_that_are_not_a_mapping(harness: DbHarness) -> None:
    with pytest.raises(ValueError, match=r"^dtypes must be a dict \(mapping column -> type\)$"):
        harness.run("db_extract_stream", sql="SELECT 1", output="x.csv", dtypes=["id"])


def test_db_extract_stream_rejects_unknown_format_with_spec_message(harness: DbHarness) -> None:
    with pytest.raises(ValueError, match=r"^db_extract_stream unsupported format: xlsx$"):
        harness.run("db_extract_stream", sql="SELECT 1", output="x.xlsx", format="xlsx")


def test_db_extract_stream_parquet_uses_dtypes_and_row_groups_of_fetch_size(harness: DbHarness) -> None:
    pq = pytest.importorskip("pyarrow.parquet", reason="the 'parquet' extra (pyarrow) is not installed")
    sql = "SELECT id, name, score, born, seen, CASE WHEN id = 2 THEN '' ELSE id::text END AS n FROM people ORDER BY id"

    result = harness.run(
        "db_extract_stream",
        sql=sql,
        output="p.parquet",
        format="parquet",
        fetch_size=2,
        dtypes={"n": "int", "id": "float"},
    )

    table = pq.read_table(harness.artifacts / "p.parquet")
    assert result.output["row_count"] == 5
    assert [str(t) for t in table.schema.types] == [
        "double",
        "string",
        "double",
        "date32[day]",
        "timestamp[ms]",
        "int64",
    ]
    assert table.column("n").to_pylist() == [1, None, 3, 4, 5]
    assert table.column("name").to_pylist()[:2] == ["ann", 'bob, "the builder"']
    assert pq.ParquetFile(harness.artifacts / "p.parquet").metadata.num_row_groups == 3


def test_db_extract_stream_parquet_without_pyarrow_names_the_extra(
    harness: DbHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)

    with pytest.raises(StepFailed, match=r"install the 'parquet' extra"):
        harness.run("db_extract_stream", sql="SELECT 1", output="x.parquet", format="parquet")

    assert not (harness.artifacts / "x.parquet").exists()


# -- empty results ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_empty_result_succeeds_with_a_header_only_file(harness: DbHarness, fmt: str) -> None:
    result = harness.run(
        "db_extract_stream", sql="SELECT id, name FROM people WHERE false", output=f"e.{fmt}", format=fmt
    )

    sep = "," if fmt == "csv" else "\t"
    assert result.status == Status.SUCCESS
    assert result.output["row_count"] == 0
    assert (harness.artifacts / f"e.{fmt}").read_text() == f"id{sep}name\n"


def test_empty_result_with_skip_if_empty_is_skipped_with_no_rows_reason(harness: DbHarness) -> None:
    result = harness.run("db_extract", sql="SELECT id FROM people WHERE false", output="e.tsv", skip_if_empty=True)

    assert result.status == Status.SKIPPED
    assert result.reason == "no_rows"
    assert result.output == {
        "output": str(harness.artifacts / "e.tsv"),
        "format": "tsv",
        "rows": 0,
        "reason": "no_rows",
    }
    assert (harness.artifacts / "e.tsv").read_text() == "id\n"


def test_empty_fetch_small_with_skip_if_empty_is_skipped(harness: DbHarness) -> None:
    result = harness.run("db_fetch_small", sql="SELECT id FROM people WHERE false", skip_if_empty="yes")

    assert result.status == Status.SKIPPED
    assert result.output["row_count"] == 0
    assert result.output["reason"] == "no_rows"


# -- failures ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("step", "fmt"), [("db_extract", "tsv"), ("db_extract_stream", "csv"), ("db_extract_stream", "tsv")]
)
def test_bad_sql_fails_permanently_and_leaves_no_file(harness: DbHarness, step: str, fmt: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        harness.run(step, sql="SELECT * FROM no_such_table", output=f"bad.{fmt}", format=fmt)

    assert caught.value.transient is False
    assert error_text(caught.value).startswith("ConnectorError: query failed on db resource 'warehouse'")
    assert "UndefinedTable" in str(caught.value)
    assert 'relation "no_such_table" does not exist' in str(caught.value)
    assert sorted(p.name for p in harness.artifacts.iterdir()) == []


def test_error_in_the_middle_of_a_copy_leaves_no_file(harness: DbHarness) -> None:
    sql = "SELECT g AS a, 10 / (g - 60000) AS b FROM generate_series(1, 100000) g"

    with pytest.raises(ConnectorError, match="DivisionByZero"):
        harness.run("db_extract_stream", sql=sql, output="half.csv", format="csv")

    assert list(harness.artifacts.iterdir()) == []


def test_connection_refused_is_a_transient_connector_error_without_the_password(
    harness_factory: Callable[[ResolvedResource], DbHarness],
) -> None:
    url = f"postgresql+psycopg://app:s3cr3t-pw@127.0.0.1:{free_port()}/warehouse"
    harness = harness_factory(ResolvedResource("warehouse", "db", "sqlalchemy", {"url": url}))

    with pytest.raises(ConnectorError) as caught:
        harness.run("db_extract_stream", sql="SELECT 1 AS a, 2 AS b", output="x.csv", format="csv")

    assert caught.value.transient is True
    assert "cannot connect to db resource 'warehouse' (postgresql+psycopg://app@127.0.0.1:" in str(caught.value)
    assert "s3cr3t-pw" not in str(caught.value)
    assert list(harness.artifacts.iterdir()) == []


def test_wrong_password_is_a_permanent_connector_error(
    pg: PostgresServer, harness_factory: Callable[[ResolvedResource], DbHarness]
) -> None:
    resource = ResolvedResource("warehouse", "db", "postgres", {"url": pg.url(password="not-the-password")})
    harness = harness_factory(resource)

    with pytest.raises(ConnectorError) as caught:
        harness.run("db_fetch_small", sql="SELECT 1")

    assert caught.value.transient is False
    assert "password authentication failed" in str(caught.value)
    assert "not-the-password" not in str(caught.value)


# A set-returning function in the select list streams (in FROM it would be materialised first).
ENDLESS = "SELECT g AS a, g AS b FROM (SELECT generate_series(1, 100000000) AS g) AS s"


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_stop_request_during_the_extract_interrupts_it_and_leaves_no_file(harness: DbHarness, fmt: str) -> None:
    step = "db_extract_stream" if fmt == "csv" else "db_extract"
    stop = threading.Timer(0.5, harness.ctx.cancelled.set)
    stop.start()

    with pytest.raises(Interrupted):
        harness.run(step, sql=ENDLESS, output=f"big.{fmt}", format=fmt)

    stop.cancel()
    assert list(harness.artifacts.iterdir()) == []


def test_stop_request_cancels_a_long_running_statement_on_the_server(harness: DbHarness) -> None:
    stop = threading.Timer(0.3, harness.ctx.cancelled.set)
    stop.start()
    started = time.monotonic()

    with pytest.raises(Interrupted):
        harness.run("db_fetch_small", sql="SELECT pg_sleep(60) AS slept")

    assert time.monotonic() - started < 10


@pytest.mark.parametrize("driver", ["postgresql+psycopg", "postgresql+psycopg2"])
def test_stop_request_cancels_a_slow_statement_on_the_copy_path(
    pg: PostgresServer, harness_factory: Callable[[ResolvedResource], DbHarness], driver: str
) -> None:
    harness = harness_factory(pg_resource(pg, driver))
    slow = "SELECT g AS a, g AS b FROM (SELECT generate_series(1, 3) AS g, pg_sleep(60) AS s) AS q"
    stop = threading.Timer(0.3, harness.ctx.cancelled.set)
    stop.start()
    started = time.monotonic()

    with pytest.raises(Interrupted):
        harness.run("db_extract_stream", sql=slow, output="slow.csv", format="csv")

    assert time.monotonic() - started < 10
    assert list(harness.artifacts.iterdir()) == []


def test_stop_requested_before_the_step_starts_runs_no_query(harness: DbHarness) -> None:
    harness.ctx.cancelled.set()

    with pytest.raises(Interrupted):
        harness.run("db_fetch_small", sql="SELECT * FROM no_such_table")


def test_connector_execute_returns_the_rowcount_and_commits(harness: DbHarness, pg: PostgresServer) -> None:
    count = harness.connector().execute("UPDATE people SET code = :c WHERE id > :i", {"c": "z", "i": 3})

    with pg.connect() as conn:
        codes = conn.execute("SELECT code FROM people WHERE id > 3").fetchall()
    assert count == 2
    assert codes == [("z",), ("z",)]


def test_pool_options_accept_nested_and_flat_keys(
    pg: PostgresServer, harness_factory: Callable[[ResolvedResource], DbHarness]
) -> None:
    harness = harness_factory(pg_resource(pg, pool={"size": 2, "pre_ping": False}, pool_recycle=60))
    connector = harness.connector()

    pool: Any = connector.engine().pool

    assert connector.pool_settings() == {"size": 2, "pre_ping": False, "recycle_seconds": 60}
    assert pool.size() == 2
    assert pool._recycle == 60
    assert pool._pre_ping is False
