"""What every DB connector shares: failure classification, error wording, and cancelling a running statement.

Failures become ``ConnectorError``: transient (``transient=True``, retried by the runner's policy) for refused or lost
connections, timeouts, deadlocks and serialisation failures; permanent for bad SQL, missing tables, authentication
failures and bad URLs. Messages name the resource and its target without credentials, plus the database's error type
and first message line.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any

from aetherflow.api import CancelToken, Connector, ConnectorError, ConnectorInit, Interrupted

# SQLSTATE classes/codes worth another attempt: connection exceptions, server shutdown/start-up, statement timeout,
# serialisation failures and deadlocks, insufficient resources, lock not available.
_TRANSIENT_SQLSTATE_PREFIXES = ("08", "40", "53", "57P")
_TRANSIENT_SQLSTATES = {"57014", "55P03"}
# MySQL client/server error codes: can't connect, server gone away, lost connection, lock wait timeout, deadlock.
_TRANSIENT_MYSQL_CODES = {2002, 2003, 2006, 2013, 1205, 1213}
# Connection failures that another attempt will not fix.
_PERMANENT_CONNECT_MARKERS = (
    "authentication failed",
    "password",
    "does not exist",
    "no pg_hba.conf entry",
    "access denied",
    "unknown database",
    "invalid dsn",
    "invalid connection option",
    "unable to open database file",
)


def first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line.strip()


def sqlstate(error: BaseException) -> str | None:
    code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    return str(code) if code else None


def is_transient_sqlstate(code: str | None) -> bool:
    return bool(code) and (code in _TRANSIENT_SQLSTATES or str(code).startswith(_TRANSIENT_SQLSTATE_PREFIXES))


def is_transient_query_error(error: BaseException) -> bool:
    """Whether a failure while running a statement (connection already open) may pass on another attempt."""
    if isinstance(error, TimeoutError | ConnectionError):
        return True
    code = sqlstate(error)
    if code:
        return is_transient_sqlstate(code)
    args = getattr(error, "args", ())
    if args and isinstance(args[0], int) and args[0] in _TRANSIENT_MYSQL_CODES:
        return True
    message = str(error).lower()
    return "database is locked" in message or "database table is locked" in message or "server closed" in message


def is_transient_connect_error(error: BaseException) -> bool:
    """Whether a failure to open a connection may pass: refused/timed out yes; bad credentials or database no."""
    code = sqlstate(error)
    if code and not code.startswith("08") and not is_transient_sqlstate(code):
        return False  # e.g. 28P01 invalid password, 3D000 unknown database
    message = str(error).lower()
    return not any(marker in message for marker in _PERMANENT_CONNECT_MARKERS)


class CancelWatcher(AbstractContextManager["CancelWatcher"]):
    """While a blocking database call runs, cancel it from another thread once ``cancelled`` is set."""

    POLL_SECONDS = 0.1

    def __init__(self, cancelled: CancelToken | None, cancel: Callable[[], None] | None) -> None:
        self._cancelled = cancelled
        self._cancel = cancel
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self.fired = False

    def __enter__(self) -> CancelWatcher:
        if self._cancelled is not None and self._cancel is not None:
            self._thread = threading.Thread(target=self._watch, name="aetherflow-db-cancel", daemon=True)
            self._thread.start()
        return self

    def _watch(self) -> None:
        assert self._cancelled is not None and self._cancel is not None
        # Cancel again on every tick: a cancel request that reaches the server before the query is ignored.
        while not self._done.wait(self.POLL_SECONDS):
            if self._cancelled.is_set():
                self.fired = True
                self._cancel()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()


class DbConnectorBase(Connector):
    """What both DB connectors share: error wording and the resource's display name."""

    driver_label = "db"

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        self.driver = init.driver

    def _where(self) -> str:
        return f"db resource '{self.name}' ({self._display_target()})"

    def _display_target(self) -> str:
        return f"{self.init.kind}:{self.init.driver}"

    def _redact(self, text: str) -> str:
        return self.init.ctx.redact(text)

    def _connect_error(self, error: BaseException) -> ConnectorError:
        cause = root_cause(error)
        transient = is_transient_connect_error(cause)
        text = f"cannot connect to {self._where()}: {type(cause).__name__}: {first_line(str(cause))}"
        return ConnectorError(self._redact(text), transient=transient)

    def _stopped_or_query_error(self, error: BaseException, watcher: CancelWatcher) -> BaseException:
        if watcher.fired:
            return Interrupted(f"query on {self._where()} cancelled: stop requested")
        return self._query_error(error)

    def _query_error(self, error: BaseException) -> ConnectorError:
        cause = root_cause(error)
        transient = is_transient_query_error(cause) or bool(getattr(error, "connection_invalidated", False))
        text = f"query failed on {self._where()}: {type(cause).__name__}: {first_line(str(cause))}"
        return ConnectorError(self._redact(text), transient=transient)


def canceller(dbapi: Any) -> Callable[[], None] | None:
    """How to cancel the statement running on a DBAPI connection from another thread, if the driver can."""
    for name in ("cancel_safe", "cancel", "interrupt"):  # psycopg 3, psycopg2, sqlite3
        method = getattr(dbapi, name, None)
        if callable(method):
            return method  # type: ignore[no-any-return]
    return None


def root_cause(error: BaseException) -> BaseException:
    """The DBAPI error under a SQLAlchemy wrapper (``orig``), else the error itself."""
    orig = getattr(error, "orig", None)
    return orig if isinstance(orig, BaseException) else error
