"""Connections to a PostgreSQL state database (psycopg 3, imported only here and only when a URL is used).

The URL is libpq's: the password may be in it, in ``PGPASSWORD`` or in the ``PGPASSFILE`` file. The store works in
the first schema of the connection's ``search_path`` (``options=-csearch_path=NAME`` in the URL), created when the
caller may create state. Errors become one ``StateError`` line naming the URL without its password.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from aetherflow.errors import StateError, StateInputError
from aetherflow.state.location import redact_url

T = TypeVar("T")

_SURROGATE = re.compile("[\ud800-\udfff]")

#: seconds to wait for the server when the URL does not say (``connect_timeout=…``)
CONNECT_TIMEOUT = 10


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise StateInputError(
            "A postgresql:// state needs psycopg 3: install aetherflow[db] (or psycopg[binary])"
        ) from None
    return psycopg


def state_error(url: str, what: str, exc: BaseException) -> StateError:
    """One line for a failed operation; the URL's password never appears, even if the driver echoed it."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    password = _password(url)
    if password:
        text = text.replace(password, "***")
    return StateError(f"State database {redact_url(url)} failed while {what}: {text}")


def _password(url: str) -> str | None:
    from urllib.parse import unquote, urlsplit

    try:
        raw = urlsplit(url).password
    except ValueError:
        return None
    return unquote(raw) if raw else None


class PgConnection:
    """One autocommit connection; ``transaction`` and ``read`` serialise the threads that share it."""

    def __init__(self, url: str, *, lock_timeout_ms: int | None = None) -> None:
        psycopg = _psycopg()
        self.url = url
        self._lock = threading.Lock()
        kwargs: dict[str, Any] = {"autocommit": True, "application_name": "aetherflow"}
        if "connect_timeout" not in url:
            kwargs["connect_timeout"] = CONNECT_TIMEOUT
        try:
            self._conn = psycopg.connect(url, **kwargs)
        except psycopg.Error as exc:
            raise state_error(url, "connecting", exc) from None
        except ValueError as exc:  # a malformed URL or option
            raise StateInputError(f"Invalid PostgreSQL state URL {redact_url(url)}: {exc}") from None
        if lock_timeout_ms is not None:
            self.read("setting the lock timeout", lambda c: c.execute(f"SET lock_timeout = {lock_timeout_ms}"))

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        psycopg = _psycopg()
        with self._lock:
            try:
                yield
            except psycopg.Error as exc:
                raise state_error(self.url, what, exc) from None

    def transaction(self, what: str, body: Callable[[Any], T], *, pipeline: bool = False) -> T:
        """``body(connection)`` inside one transaction (BEGIN … COMMIT; rolled back when it raises).

        ``pipeline``: BEGIN, the statements and COMMIT travel together instead of one round trip each, which is most
        of what a transition costs. Rows the body fetches still arrive, but ``rowcount`` is unknown (-1) there: a
        body that decides on it (the lock store) must not use a pipeline.
        """
        with self._guard(what), contextlib.ExitStack() as stack:
            if pipeline:
                stack.enter_context(self._conn.pipeline())
            stack.enter_context(self._conn.transaction())
            return body(_TextSafe(self._conn))

    def statement(self, what: str, sql: str, args: tuple[Any, ...]) -> None:
        """One statement in its own transaction: autocommit runs it atomically, one round trip and no BEGIN/COMMIT.

        A transition that writes two tables does it in one statement (a data-modifying ``WITH``), so that each still
        commits once, all or nothing, for the price of one exchange with the server.
        """
        with self._guard(what):
            _TextSafe(self._conn).execute(sql, args)

    def read(self, what: str, body: Callable[[Any], T]) -> T:
        """``body(connection)`` outside a transaction block (autocommit)."""
        with self._guard(what):
            return body(_TextSafe(self._conn))

    def close(self) -> None:
        """Close the connection (also one that the server dropped)."""
        try:
            self._conn.close()
        except Exception:  # noqa: BLE001 (closing a dead connection must not hide the run's result)
            return


def ensure_schema(conn: Any, *, create: bool) -> str:
    """The schema the store works in: the first of ``search_path`` (created when ``create``), or a StateError."""
    from psycopg import sql

    current = conn.execute("SELECT current_schema()").fetchone()[0]
    if current is not None:
        return str(current)
    path = str(conn.execute("SHOW search_path").fetchone()[0])
    first = next((p.strip() for p in path.split(",") if p.strip() and p.strip() != '"$user"'), "")
    name = first[1:-1].replace('""', '"') if first.startswith('"') and first.endswith('"') else first
    if not name:
        raise StateInputError(f"PostgreSQL search_path {path!r} names no schema for the state")
    if not create:
        raise StateError(f"State schema {name!r} not found in the PostgreSQL database (run `aetherflow state init`)")
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(name)))
    current = conn.execute("SELECT current_schema()").fetchone()[0]
    if current is None:
        raise StateError(f"State schema {name!r} cannot be used (check the role's USAGE and CREATE privileges)")
    return str(current)


class _TextSafe:
    """The connection as bodies see it: text arguments made storable in PostgreSQL's ``text``.

    PostgreSQL refuses NUL characters in text and Python's lone surrogates are no UTF-8 at all; SQLite stores both.
    A step's error (its stderr) may carry either, and a state write must never fail because of it: NUL becomes
    U+2400 (the visible symbol for NUL), an unencodable character U+FFFD.
    """

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: Any, args: Any = None) -> Any:
        if args:
            args = tuple(storable_text(a) if isinstance(a, str) else a for a in args)
        return self._conn.execute(sql, args)


def storable_text(text: str) -> str:
    """``text`` without NUL characters and lone surrogates (see ``_TextSafe``)."""
    if "\x00" in text:
        text = text.replace("\x00", "\u2400")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _SURROGATE.sub("\ufffd", text)
    return text
