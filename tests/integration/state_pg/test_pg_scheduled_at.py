"""``runs.scheduled_at`` on PostgreSQL: a schema created at version 2 gains the column by the shared migration, and
the value of the first attempt wins on every later attempt, as on SQLite."""

from __future__ import annotations

from aetherflow.state import schema
from aetherflow.state.backends import open_store
from tests.integration.state_pg.conftest import query, schema_of
from tests.servers.postgres import PostgresServer

SLOT = "2026-03-01T02:00:00Z"


def test_a_version_2_schema_is_migrated_to_carry_scheduled_at_and_keeps_its_runs(
    pg_url: str, postgres_server: PostgresServer
) -> None:
    from aetherflow.state.pg_schema import PG_BASE_VERSION, PG_SCHEMA

    name = schema_of(pg_url)
    postgres_server.execute(f'CREATE SCHEMA "{name}"')
    with postgres_server.connect(options=f"-csearch_path={name}") as conn:
        for statement in PG_SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement.encode())
        conn.execute(f"INSERT INTO meta (key, value) VALUES ('schema_version', '{PG_BASE_VERSION}')".encode())
        conn.execute(
            b"INSERT INTO runs (flow_id, run_id, status, started_at, updated_at)"
            b" VALUES ('f', 'old-run', 'FAILED', '2025-03-01T02:00:00.000Z', '2025-03-01T02:00:01.000Z')"
        )
        conn.commit()

    store = open_store(pg_url)
    try:
        old = store.get_run("f", "old-run")
        resumed, _ = store.start_run("f", "old-run", scheduled_at=SLOT)
    finally:
        store.close()

    assert query(postgres_server, name, "SELECT value FROM meta WHERE key = 'schema_version'") == [
        (str(schema.SCHEMA_VERSION),)
    ]
    assert old is not None and old.scheduled_at is None
    assert resumed.scheduled_at == SLOT  # recorded before the column existed: the next attempt records it


def test_the_first_attempt_stores_the_slot_and_a_resume_never_changes_it(pg_url: str) -> None:
    store = open_store(pg_url)
    try:
        first, _ = store.start_run("f", "r1", scheduled_at=SLOT)
        second, _ = store.start_run("f", "r1", scheduled_at="2030-01-01T00:00:00Z")
        other, _ = store.start_run("f", "r2")
    finally:
        store.close()

    assert first.scheduled_at == SLOT and second.scheduled_at == SLOT
    assert other.scheduled_at == other.started_at
