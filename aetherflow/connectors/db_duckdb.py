"""``db:duckdb``: an embedded DuckDB database file (``config.path``, default ``:memory:``), extra ``duckdb``.

One database connection per connector, opened on first use and kept for the connector's life (so a ``:memory:``
database keeps its tables between steps, and a file's lock is taken once); each operation runs on its own cursor, so
steps on several threads do not share one. ``options.extensions`` are loaded (installed first when not present) and
``options.pragmas`` set when the connection opens; a failure there is a permanent error naming the extension or pragma.

Parameters use DuckDB's own syntax (``$name`` with a mapping), as upstream passes them through unchanged. Only an
``IOException`` about a file lock held by another process is transient; other failures are permanent.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

from aetherflow.api import CancelToken, ConnectorError, ConnectorInit
from aetherflow.booleans import parse_lax_bool
from aetherflow.connectors.db_base import CancelWatcher, DbConnectorBase, first_line
from aetherflow.connectors.db_stream import Batches, cursor_batches

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _literal(value: Any) -> str:
    """A pragma value as a SQL literal (text quoted, quotes doubled; numbers and booleans as they are)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


class DuckDbConnector(DbConnectorBase):
    """``db:duckdb``: DuckDB through its Python module, imported on first use."""

    config_keys = frozenset({"path", "read_only"})
    options_keys = frozenset({"extensions", "pragmas", "cache"})

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        path = init.config.get("path", ":memory:")
        if not isinstance(path, str) or not path.strip():
            raise ConnectorError(f"db resource '{init.name}' (db:duckdb): config.path must be a non-empty path")
        self.path = path
        self.read_only = parse_lax_bool(
            init.config.get("read_only", False),
            where=f"db resource '{init.name}' (db:duckdb): config.read_only",
            error=ConnectorError,
        )
        self.extensions = self._extensions(init)
        self.pragmas = self._pragmas(init)
        self._conn: Any = None
        self._lock = threading.Lock()

    @staticmethod
    def _extensions(init: ConnectorInit) -> list[str]:
        raw = init.options.get("extensions") or []
        if not isinstance(raw, list) or not all(isinstance(x, str) and _IDENT.match(x) for x in raw):
            raise ConnectorError(
                f"db resource '{init.name}' (db:duckdb): options.extensions must be a list of extension names"
            )
        return list(raw)

    @staticmethod
    def _pragmas(init: ConnectorInit) -> dict[str, Any]:
        raw = init.options.get("pragmas") or {}
        if not isinstance(raw, Mapping):
            raise ConnectorError(f"db resource '{init.name}' (db:duckdb): options.pragmas must be a mapping")
        for key, value in raw.items():
            if not isinstance(key, str) or not _IDENT.match(key):
                raise ConnectorError(f"db resource '{init.name}' (db:duckdb): invalid pragma name {key!r}")
            if not isinstance(value, str | int | float | bool):
                raise ConnectorError(
                    f"db resource '{init.name}' (db:duckdb): pragma '{key}' needs a text, number or boolean value"
                )
        return dict(raw)

    def _display_target(self) -> str:
        return f"duckdb {self.path}"

    def _duckdb(self) -> Any:
        try:
            import duckdb
        except ModuleNotFoundError:
            raise ConnectorError(
                f"db resource '{self.name}' (db:duckdb) needs duckdb: "
                "install the 'duckdb' extra (pip install 'aetherflow[duckdb]')"
            ) from None
        return duckdb

    def _connect_error(self, error: BaseException) -> ConnectorError:
        # Another process holding the file's lock may let go; a bad path or a corrupt file will not get better.
        transient = "could not set lock" in str(error).lower()
        text = f"cannot connect to {self._where()}: {type(error).__name__}: {first_line(str(error))}"
        return ConnectorError(self._redact(text), transient=transient)

    def connect(self) -> Any:
        """The connector's DuckDB connection (opened, with extensions and pragmas, on first use)."""
        with self._lock:
            if self._conn is None:
                self._conn = self._open()
            return self._conn

    def _open(self) -> Any:
        duckdb = self._duckdb()
        try:
            conn = duckdb.connect(database=self.path, read_only=self.read_only)
        except duckdb.Error as exc:
            raise self._connect_error(exc) from exc
        try:
            for extension in self.extensions:
                self._load_extension(duckdb, conn, extension)
            for key, value in self.pragmas.items():
                try:
                    conn.execute(f"PRAGMA {key}={_literal(value)}")
                except duckdb.Error as exc:
                    raise self._setup_error(f"pragma '{key}'", exc) from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _load_extension(self, duckdb: Any, conn: Any, extension: str) -> None:
        try:
            conn.execute(f"LOAD {extension}")
            return
        except duckdb.Error:
            pass  # not installed yet: install, then load
        try:
            conn.execute(f"INSTALL {extension}")
            conn.execute(f"LOAD {extension}")
        except duckdb.Error as exc:
            raise self._setup_error(f"extension '{extension}'", exc) from exc

    def _setup_error(self, what: str, error: BaseException) -> ConnectorError:
        text = f"{self._where()}: cannot set {what}: {type(error).__name__}: {first_line(str(error))}"
        return ConnectorError(self._redact(text))

    def fetch_batches(
        self, sql: str, params: Mapping[str, Any] | None, fetch_size: int, *, cancelled: CancelToken | None = None
    ) -> tuple[list[str], Batches]:
        """Run ``sql`` (``$name`` parameters); the column names and an iterator of row batches."""
        duckdb = self._duckdb()
        cursor = self.connect().cursor()
        watcher = CancelWatcher(cancelled, cursor.interrupt).__enter__()

        def release() -> None:
            watcher.__exit__(None, None, None)
            cursor.close()

        try:
            cursor.execute(sql, dict(params) if params else None)
        except duckdb.Error as exc:
            release()
            raise self._stopped_or_query_error(exc, watcher) from exc
        columns = [str(d[0]) for d in cursor.description] if cursor.description else []
        batches = cursor_batches(
            cursor,
            fetch_size,
            errors=(duckdb.Error,),
            fail=lambda exc: self._stopped_or_query_error(exc, watcher),
            release=release,
        )
        return columns, batches

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run one statement (auto-committed); the number of rows changed, or -1 when DuckDB reports none."""
        duckdb = self._duckdb()
        cursor = self.connect().cursor()
        try:
            cursor.execute(sql, dict(params) if params else None)
            description = cursor.description or []
            # DuckDB answers INSERT/UPDATE/DELETE with one row of one column named "Count" instead of a rowcount.
            if len(description) == 1 and description[0][0] == "Count":
                row = cursor.fetchone()
                return int(row[0]) if row else -1
            return -1
        except duckdb.Error as exc:
            raise self._query_error(exc) from exc
        finally:
            cursor.close()

    def close(self) -> None:
        """Close the database connection (a ``:memory:`` database is gone afterwards)."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
