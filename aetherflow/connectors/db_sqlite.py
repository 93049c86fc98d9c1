"""``db:sqlite3``: the stdlib driver on a database file; it also serves ``db:sqlalchemy``'s plain SQLite file URLs."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping
from typing import Any

from aetherflow.api import CancelToken, ConnectorError, ConnectorInit
from aetherflow.connectors.db_base import CancelWatcher, DbConnectorBase
from aetherflow.connectors.db_stream import Batches, cursor_batches


class Sqlite3Connector(DbConnectorBase):
    """``db:sqlite3``: the stdlib driver on a database file (``config.path``, or ``config.url`` ``sqlite:///<path>``).

    A connection is opened per operation (SQLite connections are cheap and thread-bound), except for ``:memory:``,
    which keeps one connection for the connector's life so its tables survive between steps.
    """

    config_keys = frozenset({"path", "url"})
    options_keys = frozenset({"cache"})

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        self.path = self._path_from_config(init)
        self._memory: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    @staticmethod
    def _path_from_config(init: ConnectorInit) -> str:
        path = init.config.get("path")
        url = init.config.get("url")
        if isinstance(path, str) and path:
            return path
        if isinstance(url, str) and url.startswith("sqlite://"):
            rest = url[len("sqlite://") :]
            if rest in ("", "/", "/:memory:"):
                return ":memory:"
            if rest.startswith("/"):
                return rest[1:]
        raise ConnectorError(
            f"db resource '{init.name}' (db:sqlite3) needs config.path or config.url 'sqlite:///<path>'"
        )

    def _display_target(self) -> str:
        return f"sqlite3 {self.path}"

    def connect(self) -> sqlite3.Connection:
        """A native ``sqlite3`` connection (the shared one for ``:memory:``); close it when done unless shared."""
        if self.path == ":memory:":
            with self._lock:
                if self._memory is None:
                    self._memory = self._open()
                return self._memory
        return self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            return sqlite3.connect(self.path, check_same_thread=False)
        except sqlite3.Error as exc:
            raise self._connect_error(exc) from exc

    def _release(self, conn: sqlite3.Connection) -> None:
        if conn is not self._memory:
            conn.close()

    def fetch_batches(
        self, sql: str, params: Mapping[str, Any] | None, fetch_size: int, *, cancelled: CancelToken | None = None
    ) -> tuple[list[str], Batches]:
        """Run ``sql`` with ``:name`` parameters; the column names and an iterator of row batches.

        With ``cancelled``, a stop request interrupts the running statement (``Interrupted`` is raised).
        """
        conn = self.connect()
        watcher = CancelWatcher(cancelled, conn.interrupt).__enter__()
        try:
            cursor = conn.execute(sql, dict(params or {}))
        except (sqlite3.Error, ValueError) as exc:
            watcher.__exit__(None, None, None)
            self._release(conn)
            raise self._stopped_or_query_error(exc, watcher) from exc
        columns = [str(d[0]) for d in cursor.description] if cursor.description else []
        cursor.arraysize = fetch_size

        def release() -> None:
            watcher.__exit__(None, None, None)
            cursor.close()
            self._release(conn)

        batches = cursor_batches(
            cursor,
            fetch_size,
            errors=(sqlite3.Error,),
            fail=lambda exc: self._stopped_or_query_error(exc, watcher),
            release=release,
        )
        return columns, batches

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run one statement and commit; the row count (-1 when unknown)."""
        conn = self.connect()
        try:
            cursor = conn.execute(sql, dict(params or {}))
            count = cursor.rowcount
            conn.commit()
            return count
        except (sqlite3.Error, ValueError) as exc:
            conn.rollback()
            raise self._query_error(exc) from exc
        finally:
            self._release(conn)

    def close(self) -> None:
        """Close the shared ``:memory:`` connection, if any."""
        with self._lock:
            conn, self._memory = self._memory, None
        if conn is not None:
            conn.close()


class SqliteUrlConnector(Sqlite3Connector):
    """The stdlib driver serving a ``db:sqlalchemy`` SQLite file URL; errors name the URL as the resource gives it."""

    display = ""

    def _display_target(self) -> str:
        return self.display
