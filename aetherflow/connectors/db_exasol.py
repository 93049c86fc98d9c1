"""``db:exasol``: Exasol through pyexasol (extra ``exasol``). pyexasol is not DBAPI: statements, not cursors.

``config``: ``dsn`` (``host[:port]``, pyexasol's ranges and lists allowed), ``user``, ``password``, ``schema``
(optional). ``options``: ``timeout`` (seconds, for connecting and for each socket read). Parameters use pyexasol's
``{name}`` placeholders (values quoted by pyexasol). Each operation opens its own session, so steps running at the
same time never share one. TLS certificates are verified (pyexasol's secure default, stated so it never warns), and
pyexasol's usage telemetry is switched off: a flow must not talk to hosts it did not name.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

from aetherflow.api import CancelToken, ConnectorError, ConnectorInit
from aetherflow.connectors.db_base import CancelWatcher, DbConnectorBase, first_line
from aetherflow.connectors.db_stream import Batches

DEFAULT_TIMEOUT = 10


class ExasolConnector(DbConnectorBase):
    """``db:exasol``: one pyexasol session per operation."""

    config_keys = frozenset({"dsn", "user", "password", "schema"})
    options_keys = frozenset({"timeout", "cache"})

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        missing = [k for k in ("dsn", "user", "password") if not isinstance(init.config.get(k), str)]
        missing += [k for k in ("dsn", "user") if k not in missing and not str(init.config[k]).strip()]
        if missing:
            raise ConnectorError(f"db resource '{init.name}' (db:exasol) needs config.{', config.'.join(missing)}")
        schema = init.config.get("schema")
        if schema is not None and not isinstance(schema, str):
            raise ConnectorError(f"db resource '{init.name}' (db:exasol): config.schema must be a name")
        self.schema = schema or ""
        timeout = init.options.get("timeout", DEFAULT_TIMEOUT)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ConnectorError(f"db resource '{init.name}' (db:exasol): options.timeout must be a positive number")
        self.timeout = float(timeout)

    def _display_target(self) -> str:
        return f"exasol {self.config['user']}@{self.config['dsn']}"

    def _pyexasol(self) -> Any:
        try:
            import pyexasol
        except ModuleNotFoundError:
            raise ConnectorError(
                f"db resource '{self.name}' (db:exasol) needs pyexasol: "
                "install the 'exasol' extra (pip install 'aetherflow[exasol]')"
            ) from None
        try:
            from exasol.telemetry import client as telemetry
        except ModuleNotFoundError:
            pass  # a pyexasol without usage telemetry
        else:
            telemetry.disable()  # type: ignore[no-untyped-call]
        return pyexasol

    @staticmethod
    def _message(error: BaseException) -> str:
        """pyexasol's own message (its ``str()`` is a multi-line block that also lists the DSN and user)."""
        return first_line(str(getattr(error, "message", "") or error))

    def connect(self) -> Any:
        """A new pyexasol connection (close it when done)."""
        pyexasol = self._pyexasol()
        try:
            return pyexasol.connect(
                dsn=str(self.config["dsn"]),
                user=str(self.config["user"]),
                password=str(self.config["password"]),
                schema=self.schema,
                connection_timeout=self.timeout,
                socket_timeout=self.timeout,
                websocket_sslopt={"cert_reqs": ssl.CERT_REQUIRED},
            )
        except pyexasol.ExaError as exc:
            # Refused/timed out: transient. Bad credentials (ExaAuthError) or an unparsable DSN: permanent.
            transient = isinstance(exc, pyexasol.ExaConnectionFailedError | pyexasol.ExaCommunicationError)
            text = f"cannot connect to {self._where()}: {type(exc).__name__}: {self._message(exc)}"
            raise ConnectorError(self._redact(text), transient=transient) from exc

    def _query_error(self, error: BaseException) -> ConnectorError:
        transient = type(error).__name__ in ("ExaCommunicationError", "ExaQueryTimeoutError", "ExaConcurrencyError")
        text = f"query failed on {self._where()}: {type(error).__name__}: {self._message(error)}"
        return ConnectorError(self._redact(text), transient=transient)

    def fetch_batches(
        self, sql: str, params: Mapping[str, Any] | None, fetch_size: int, *, cancelled: CancelToken | None = None
    ) -> tuple[list[str], Batches]:
        """Run ``sql`` with ``{name}`` parameters; the column names and an iterator of row batches."""
        pyexasol = self._pyexasol()
        conn = self.connect()
        watcher = CancelWatcher(cancelled, conn.abort_query).__enter__()
        try:
            stmt = conn.execute(sql, dict(params) if params else None)
            columns = [str(c) for c in stmt.column_names()] if stmt.result_type == "resultSet" else []
        except pyexasol.ExaError as exc:
            watcher.__exit__(None, None, None)
            conn.close()
            raise self._stopped_or_query_error(exc, watcher) from exc

        def batches() -> Batches:
            try:
                while columns:
                    batch = stmt.fetchmany(fetch_size)
                    if not batch:
                        return
                    yield batch
            except GeneratorExit:
                raise
            except pyexasol.ExaError as exc:
                raise self._stopped_or_query_error(exc, watcher) from exc
            finally:
                watcher.__exit__(None, None, None)
                stmt.close()
                conn.close()

        return columns, batches()

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run one statement (auto-committed); the number of rows it changed."""
        pyexasol = self._pyexasol()
        conn = self.connect()
        try:
            stmt = conn.execute(sql, dict(params) if params else None)
            return int(stmt.rowcount())
        except pyexasol.ExaError as exc:
            raise self._query_error(exc) from exc
        finally:
            conn.close()
