"""Database connectors: ``db:sqlalchemy`` (aliases ``db:postgres``, ``db:mysql``) and ``db:sqlite3``.

Both offer the primitives the DB steps use (docs/reference/resources-and-profiles.md):

* ``fetch_batches(sql, params, fetch_size) -> (columns, batches)``: the query runs at once (so bad SQL and connection
  failures surface before anything is written); ``batches`` yields lists of at most ``fetch_size`` row tuples from a
  server-side cursor, so memory stays bounded by one batch. Close the iterator (``batches.close()``) to release the
  connection early; exhausting it does that too.
* ``execute(sql, params) -> rowcount`` in its own committed transaction.
* The native handles: ``engine()``/``connect()`` (SQLAlchemy), ``connect()`` (sqlite3).

``SqlAlchemyConnector.export_csv`` is a fast path for PostgreSQL: ``COPY (query) TO STDOUT WITH CSV`` (``db_copy``).
``db:sqlite3`` lives in ``db_sqlite`` and is re-exported here, where the connector catalogue names it.

Failures become ``ConnectorError``: transient (``transient=True``, retried by the runner's policy) for refused or lost
connections, timeouts, deadlocks and serialisation failures; permanent for bad SQL, missing tables, authentication
failures and bad URLs. Messages name the resource and its URL without credentials, plus the database's error type
(``UndefinedTable``, ``OperationalError``...) and first message line.

sqlalchemy and the drivers are imported inside methods: only flows using a DB resource pay for them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aetherflow.api import CancelToken, ConnectorError, ConnectorInit
from aetherflow.connectors.db_base import CancelWatcher, canceller, first_line
from aetherflow.connectors.db_copy import PgCopyExport
from aetherflow.connectors.db_sqlite import Sqlite3Connector, SqliteUrlConnector
from aetherflow.connectors.db_stream import Batches, bind_params, cursor_batches, sqlite_file_of

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.pool import PoolProxiedConnection

__all__ = ["POOL_DEFAULTS", "SqlAlchemyConnector", "Sqlite3Connector"]

Row = Sequence[Any]

POOL_DEFAULTS: dict[str, Any] = {"size": 5, "max_overflow": 10, "recycle_seconds": 1800, "pre_ping": True}
_FLAT_POOL_KEYS = {"pool_size": "size", "max_overflow": "max_overflow", "pool_recycle": "recycle_seconds",
                   "pool_pre_ping": "pre_ping"}  # fmt: skip


def _no_batches() -> Batches:
    yield from ()


class SqlAlchemyConnector(PgCopyExport):
    """``db:sqlalchemy``: any SQLAlchemy URL (PostgreSQL via psycopg 3 or psycopg2, SQLite, MySQL...)."""

    config_keys = frozenset({"url"})
    options_keys = frozenset(
        {"pool", "pool_size", "max_overflow", "pool_recycle", "pool_pre_ping", "connect_args", "cache"}
    )

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        url = init.config.get("url")
        if not isinstance(url, str) or not url.strip():
            raise ConnectorError(f"db resource '{init.name}' ({init.kind}:{init.driver}) needs config.url")
        # Heroku-style 'postgres://' is not a SQLAlchemy dialect name.
        self._url = re.sub(r"^postgres(\+|://)", r"postgresql\1", url.strip())
        self._engine: Engine | None = None
        self._sqlite: SqliteUrlConnector | None = None
        self._lock = threading.Lock()

    def _display_target(self) -> str:
        try:
            from sqlalchemy.engine import URL, make_url

            url = make_url(self._url)
            safe = URL.create(url.drivername, url.username, None, url.host, url.port, url.database)
            return safe.render_as_string(hide_password=False)
        except Exception:  # noqa: BLE001 (an unparsable URL is reported by engine(); never echo it raw)
            return "<unparsable url>"

    def pool_settings(self) -> dict[str, Any]:
        """The pool options the resource sets: ``options.pool`` keys, overridden by the flat ``pool_*`` keys."""
        merged: dict[str, Any] = {}
        nested = self.options.get("pool")
        if isinstance(nested, Mapping):
            merged.update({k: v for k, v in nested.items() if k in POOL_DEFAULTS})
        for flat, key in _FLAT_POOL_KEYS.items():
            if flat in self.options:
                merged[key] = self.options[flat]
        return merged

    def engine(self) -> Engine:
        """The SQLAlchemy engine (created on first use, disposed by ``close``)."""
        with self._lock:
            if self._engine is None:
                self._engine = self._create_engine()
            return self._engine

    def _create_engine(self) -> Engine:
        try:
            import sqlalchemy
            from sqlalchemy.engine import make_url
        except ModuleNotFoundError as exc:
            raise ConnectorError(
                f"db resource '{self.name}' needs SQLAlchemy: install the 'db' extra (pip install 'aetherflow[db]')"
            ) from exc
        try:
            url = make_url(self._url)
        except Exception as exc:  # noqa: BLE001 (ArgumentError and friends; the URL may hold a password)
            raise ConnectorError(
                f"db resource '{self.name}' has an invalid config.url ({type(exc).__name__})"
            ) from None
        explicit = self.pool_settings()
        settings = {**POOL_DEFAULTS, **explicit}
        kwargs: dict[str, Any] = {"pool_pre_ping": _as_bool(settings["pre_ping"])}
        if url.get_backend_name() == "sqlite":
            # SQLite pools (Singleton/Queue) take no sizing defaults; pass only what the resource asked for.
            if "size" in explicit:
                kwargs["pool_size"] = int(explicit["size"])
            if "max_overflow" in explicit:
                kwargs["max_overflow"] = int(explicit["max_overflow"])
            if "recycle_seconds" in explicit:
                kwargs["pool_recycle"] = int(explicit["recycle_seconds"])
        else:
            kwargs.update(
                pool_size=int(settings["size"]),
                max_overflow=int(settings["max_overflow"]),
                pool_recycle=int(settings["recycle_seconds"]),
            )
        connect_args = self.options.get("connect_args")
        if isinstance(connect_args, Mapping):
            kwargs["connect_args"] = dict(connect_args)
        try:
            return sqlalchemy.create_engine(url, **kwargs)
        except ModuleNotFoundError as exc:
            raise ConnectorError(
                f"{self._where()}: the database driver is not installed ({exc.name}); "
                "install the 'db' extra (pip install 'aetherflow[db]') or the driver the URL names"
            ) from None
        except Exception as exc:  # noqa: BLE001 (NoSuchModuleError, TypeError for a bad pool option...)
            raise ConnectorError(
                self._redact(f"cannot create engine for {self._where()}: {type(exc).__name__}: {first_line(str(exc))}")
            ) from None

    def connect(self) -> Connection:
        """A SQLAlchemy connection from the pool; connection failures become ``ConnectorError``."""
        engine = self.engine()
        try:
            return engine.connect()
        except Exception as exc:  # classified by message/SQLSTATE: refused and timed out are transient
            raise self._connect_error(exc) from exc

    def _raw_connection(self) -> PoolProxiedConnection:
        engine = self.engine()
        try:
            return engine.raw_connection()
        except Exception as exc:
            raise self._connect_error(exc) from exc

    def _sqlite_file(self) -> SqliteUrlConnector | None:
        """The stdlib connector serving a plain ``sqlite:///<file>`` URL without SQLAlchemy, else None."""
        if self._sqlite is None and not self.options.get("connect_args"):
            path = sqlite_file_of(self._url)
            if path is not None:
                init = self.init
                config = {"path": path}
                self._sqlite = SqliteUrlConnector(
                    ConnectorInit(init.name, init.kind, init.driver, config, {}, init.ctx)
                )
                self._sqlite.display = self._url  # a SQLite URL holds no credentials; parsing it needs SQLAlchemy
        return self._sqlite

    def _serves_sqlite_file(self) -> bool:
        return self._sqlite_file() is not None

    def fetch_batches(
        self, sql: str, params: Mapping[str, Any] | None, fetch_size: int, *, cancelled: CancelToken | None = None
    ) -> tuple[list[str], Batches]:
        """Run ``sql`` with ``:name`` parameters; the column names and an iterator of row batches.

        Rows come straight from the DBAPI cursor (a server-side one on PostgreSQL), a plain SQLite file URL is read
        with the stdlib driver; other dialects stream through SQLAlchemy's result. With ``cancelled``, a stop request
        cancels the running statement on the server (``Interrupted`` is raised).
        """
        sqlite_file = self._sqlite_file()
        if sqlite_file is not None:
            return sqlite_file.fetch_batches(sql, params, fetch_size, cancelled=cancelled)
        engine = self.engine()
        if engine.dialect.name == "sqlite" or engine.dialect.driver in ("psycopg", "psycopg2"):
            return self._cursor_batches(engine, sql, params, fetch_size, cancelled)
        from sqlalchemy import text

        conn = self.connect()
        watcher = CancelWatcher(cancelled, canceller(conn.connection.driver_connection)).__enter__()
        try:
            streaming = conn.execution_options(stream_results=True, yield_per=fetch_size)
            result = streaming.execute(text(sql), dict(params or {}))
            columns = list(result.keys()) if result.returns_rows else []
        except Exception as exc:
            watcher.__exit__(None, None, None)
            conn.close()
            raise self._stopped_or_query_error(exc, watcher) from exc

        def batches() -> Batches:
            try:
                if not columns:
                    return
                # partitions() without a size may hand back ONE partition of every row: always pass it.
                yield from result.partitions(fetch_size)  # type: ignore[misc]  # Row objects are tuples
            except GeneratorExit:
                raise
            except Exception as exc:
                raise self._stopped_or_query_error(exc, watcher) from exc
            finally:
                watcher.__exit__(None, None, None)
                result.close()
                conn.close()

        return columns, batches()

    def _cursor_batches(
        self, engine: Engine, sql: str, params: Mapping[str, Any] | None, fetch_size: int, cancelled: CancelToken | None
    ) -> tuple[list[str], Batches]:
        """The rows of ``sql`` from a DBAPI cursor of the pool: no SQLAlchemy ``Row`` per row."""
        from sqlalchemy import text

        raw = self._raw_connection()
        dbapi: Any = raw.driver_connection
        watcher = CancelWatcher(cancelled, canceller(dbapi)).__enter__()
        # PostgreSQL: a named (server-side) cursor keeps only one batch in memory; SQLite's cursor steps lazily.
        server_side = engine.dialect.name == "postgresql"
        cursor = dbapi.cursor(name=f"aetherflow_{threading.get_ident()}_{id(raw)}") if server_side else dbapi.cursor()

        def release(failed: bool = False) -> None:
            watcher.__exit__(None, None, None)
            try:
                cursor.close()
                dbapi.rollback()  # reads only: end the transaction the cursor opened
            except Exception:  # noqa: BLE001 (a broken connection: never hand it back to the pool)
                failed = True
            if failed:
                raw.invalidate()
            raw.close()

        try:
            compiled = text(sql).compile(dialect=engine.dialect)
            cursor.arraysize = fetch_size
            if server_side:
                cursor.itersize = fetch_size
            cursor.execute(compiled.string, bind_params(compiled, params))
            # A psycopg2 named cursor describes its result only once the first rows are fetched.
            first = cursor.fetchmany(fetch_size) if cursor.description or server_side else []
            columns = [str(d[0]) for d in cursor.description] if cursor.description else []
        except Exception as exc:
            release(failed=True)
            raise self._stopped_or_query_error(exc, watcher) from exc
        if not first:
            release()
            return columns, _no_batches()
        batches = cursor_batches(
            cursor,
            fetch_size,
            errors=(Exception,),
            fail=lambda exc: self._stopped_or_query_error(exc, watcher),
            release=release,
            first=list(first),
        )
        return columns, batches

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run one statement in a committed transaction; the driver's row count (-1 when unknown)."""
        sqlite_file = self._sqlite_file()
        if sqlite_file is not None:
            return sqlite_file.execute(sql, params)
        from sqlalchemy import text

        with self.connect() as conn:
            try:
                result = conn.execute(text(sql), dict(params or {}))
                count = int(result.rowcount)
                conn.commit()
            except Exception as exc:
                raise self._query_error(exc) from exc
        return count

    def close(self) -> None:
        """Dispose of the engine's pool."""
        with self._lock:
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.dispose()
        if self._sqlite is not None:
            self._sqlite.close()


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
