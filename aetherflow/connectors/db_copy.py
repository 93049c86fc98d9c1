"""The PostgreSQL COPY fast path of ``db:sqlalchemy``: ``COPY (query) TO STDOUT WITH CSV`` straight into the output.

Used only when PostgreSQL renders every column exactly as Python's ``str()`` of the driver's value would (see
``copy_column``), so the file is byte-identical to the generic path's.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, BinaryIO

from aetherflow.api import CancelToken, ConnectorError, Interrupted
from aetherflow.connectors.db_base import CancelWatcher, DbConnectorBase, first_line, is_transient_sqlstate
from aetherflow.connectors.db_pg_copy import copy_column, quote_ident, sql_char

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import PoolProxiedConnection

_COPY_CHUNK = 1 << 20


class PgCopyExport(DbConnectorBase, abc.ABC):
    """``export_csv`` for a connector that has a SQLAlchemy engine and hands out raw pool connections."""

    @abc.abstractmethod
    def engine(self) -> Engine:
        """The SQLAlchemy engine."""

    @abc.abstractmethod
    def _raw_connection(self) -> PoolProxiedConnection:
        """A raw DBAPI connection of the pool."""

    @abc.abstractmethod
    def _serves_sqlite_file(self) -> bool:
        """Whether a plain SQLite file URL is read with the stdlib driver (no COPY there)."""

    def export_csv(
        self,
        sql: str,
        params: Mapping[str, Any] | None,
        out: BinaryIO,
        *,
        delimiter: str = ",",
        header: bool = True,
        cancelled: CancelToken | None = None,
    ) -> tuple[list[str], int] | None:
        """Write the result to ``out`` as UTF-8 CSV with PostgreSQL's COPY; ``(columns, rows)``, or None if not used.

        The CSV dialect is the csv module's default one with ``delimiter`` and ``\\n`` line ends. COPY is used only
        for PostgreSQL through psycopg 3 or psycopg2, results of two or more uniquely named columns, and column types
        PostgreSQL renders exactly as ``str()`` of the driver's value; otherwise nothing is written and None is
        returned, so the caller takes the generic path. One known difference: PostgreSQL also quotes a value that holds
        a bare carriage return, which Python's writer leaves unquoted when the line end is ``\\n``.
        """
        if self._serves_sqlite_file():
            return None
        engine = self.engine()
        if engine.dialect.name != "postgresql" or engine.dialect.driver not in ("psycopg", "psycopg2"):
            return None
        if delimiter not in (",", "\t", ";", "|"):
            return None
        from sqlalchemy import text

        compiled = text(sql).compile(dialect=engine.dialect)
        try:
            bound_params = compiled.construct_params(dict(params or {}))
        except Exception:  # noqa: BLE001 (a missing parameter: the generic path reports it the usual way)
            return None
        raw = self._raw_connection()
        finished = False
        try:
            dbapi: Any = raw.driver_connection
            psycopg3 = engine.dialect.driver == "psycopg"
            plan = self._copy_plan(dbapi, compiled.string, bound_params, psycopg3=psycopg3)
            if plan is None:
                dbapi.rollback()
                finished = True
                return None
            columns, select_sql = plan
            options = f"FORMAT csv, HEADER {'true' if header else 'false'}, DELIMITER {sql_char(delimiter)}"
            copy_sql = f"COPY ({select_sql}) TO STDOUT WITH ({options}, QUOTE '\"', ENCODING 'UTF8')"
            if psycopg3:
                rows = self._copy_psycopg3(dbapi, copy_sql, out, cancelled)
            else:
                rows = self._copy_psycopg2(dbapi, copy_sql, out, cancelled)
            dbapi.rollback()
            finished = True
            return columns, rows
        finally:
            if finished:
                raw.close()
            else:
                # Possibly stopped in the middle of a COPY: never hand this connection back to the pool.
                raw.invalidate()
                raw.close()

    def _copy_plan(
        self, dbapi: Any, query: str, params: Mapping[str, Any], *, psycopg3: bool
    ) -> tuple[list[str], str] | None:
        """Bind the parameters client-side, learn the result's column types, and build the SELECT for COPY."""
        try:
            if psycopg3:
                import psycopg

                bound = psycopg.ClientCursor(dbapi).mogrify(query, params)
                cursor = dbapi.cursor()
            else:
                from psycopg2.extensions import encodings

                cursor = dbapi.cursor()
                bound = cursor.mogrify(query, params).decode(encodings.get(dbapi.encoding, "utf-8"))
            inner = bound.strip().rstrip(";")
            # PostgreSQL's text output must match Python's str() of the driver's values (dates in ISO order).
            cursor.execute("SET LOCAL DateStyle TO 'ISO, YMD'")
            cursor.execute(f"SELECT * FROM (\n{inner}\n) AS _af_q LIMIT 0")
            description = cursor.description
            cursor.close()
        except Exception:  # noqa: BLE001 (not wrappable, or bad SQL: the generic path reports the real error)
            return None
        if not description or len(description) < 2:
            return None  # a lone empty field is written '""' by csv, '' by COPY
        names = [str(col.name) for col in description]
        if len(set(names)) != len(names):
            return None
        exprs: list[str] = []
        for col in description:
            expr = copy_column(quote_ident(str(col.name)), int(col.type_code), getattr(col, "scale", None))
            if expr is None:
                return None
            exprs.append(f"{expr} AS {quote_ident(str(col.name))}")
        return names, f"SELECT {', '.join(exprs)} FROM (\n{inner}\n) AS _af_q"

    def _copy_psycopg3(self, dbapi: Any, copy_sql: str, out: BinaryIO, cancelled: CancelToken | None) -> int:
        from psycopg import pq

        pgconn = dbapi.pgconn
        with CancelWatcher(cancelled, dbapi.cancel_safe) as watcher:
            # libpq directly: psycopg's Copy object hands over one row per generator round trip (~2x slower).
            result = pgconn.exec_(copy_sql.encode())
            if result.status != pq.ExecStatus.COPY_OUT:
                raise self._pq_error(result, watcher.fired)
            get = pgconn.get_copy_data
            write = out.write
            while True:
                size, data = get(0)
                if size < 0:
                    break
                write(data)
            final = pgconn.get_result()
            while pgconn.get_result() is not None:
                pass
        if final is None or final.status != pq.ExecStatus.COMMAND_OK:
            raise self._pq_error(final, watcher.fired)
        return int(final.command_tuples or 0)

    def _pq_error(self, result: Any, cancelled: bool) -> BaseException:
        if cancelled:
            return Interrupted(f"query on {self._where()} cancelled: stop requested")
        from psycopg import errors, pq

        message = result.error_message.decode(errors="replace") if result is not None else "no result"
        code = result.error_field(pq.DiagnosticField.SQLSTATE) if result is not None else None
        sqlstate = code.decode() if code else None
        name = errors.lookup(sqlstate).__name__ if sqlstate else "Error"
        text = f"query failed on {self._where()}: {name}: {first_line(message)}"
        return ConnectorError(self._redact(text), transient=is_transient_sqlstate(sqlstate))

    def _copy_psycopg2(self, dbapi: Any, copy_sql: str, out: BinaryIO, cancelled: CancelToken | None) -> int:
        cursor = dbapi.cursor()
        with CancelWatcher(cancelled, dbapi.cancel) as watcher:
            try:
                cursor.copy_expert(copy_sql, out, size=_COPY_CHUNK)
            except Exception as exc:
                if watcher.fired:
                    raise Interrupted(f"query on {self._where()} cancelled: stop requested") from exc
                raise self._query_error(exc) from exc
        return int(cursor.rowcount)
