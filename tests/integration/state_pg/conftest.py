"""Fixtures of the PostgreSQL state tests: the session's real server, a fresh schema per test named in the URL."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.servers.postgres import PostgresServer


def state_url(server: PostgresServer, schema: str, *, password: str | None = "") -> str:
    """A libpq URL whose ``search_path`` is ``schema`` (``password=None``: none in the URL)."""
    secret = server.password if password == "" else password
    auth = server.user if secret is None else f"{server.user}:{quote(secret, safe='')}"
    options = quote(f"-csearch_path={schema}", safe="")
    return f"postgresql://{auth}@{server.host}:{server.port}/{server.dbname}?options={options}"


@pytest.fixture
def new_schema(postgres_server: PostgresServer) -> Iterator[Callable[[], str]]:
    """Names of fresh schemas (dropped afterwards): every test gets its own namespace of runs and locks."""
    made: list[str] = []

    def make() -> str:
        name = f"t_{secrets.token_hex(5)}"
        made.append(name)
        return name

    yield make
    for name in made:
        postgres_server.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def pg_url(postgres_server: PostgresServer, new_schema: Callable[[], str]) -> str:
    """The URL of a fresh schema of the session's server."""
    return state_url(postgres_server, new_schema())


def query(server: PostgresServer, schema: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` run in ``schema``."""
    with server.connect(options=f"-csearch_path={schema}") as conn:
        return [tuple(r) for r in conn.execute(sql.encode(), args or None).fetchall()]


def schema_of(url: str) -> str:
    """The schema a ``state_url`` names."""
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(url).query)["options"][0].split("=", 1)[1]
