"""``db:oracledb``: Oracle Database through python-oracledb (extra ``oracle``); thin mode unless ``lib_dir`` is set.

``config``: ``user``, ``password``, ``dsn`` (Easy Connect ``host[:port]/service`` or a TNS alias). ``options``:
``pool {enabled: true, size: 4}`` (or flat ``pool_enabled``/``pool_size``), ``lib_dir`` (or ``oracle.lib_dir``) to
use thick mode with the Oracle client libraries in that directory, ``arraysize`` (5000, rows per network round trip).
Parameters are Oracle's ``:name`` binds. Connection failures are classified like every DB connector's: a refused or
timed-out connection is transient; bad credentials (``ORA-01017``), an unknown service or a bad DSN are permanent.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from aetherflow.api import CancelToken, ConnectorError, ConnectorInit
from aetherflow.booleans import parse_lax_bool
from aetherflow.connectors.db_base import CancelWatcher, DbConnectorBase, first_line
from aetherflow.connectors.db_stream import Batches, cursor_batches

DEFAULT_POOL_SIZE = 4
DEFAULT_ARRAYSIZE = 5000
# Oracle errors that another attempt will not fix: bad credentials, locked/expired account, unknown service or SID,
# unresolvable alias, malformed connect string.
_PERMANENT_CODES = ("ORA-01017", "ORA-28000", "ORA-28001", "ORA-12514", "ORA-12505", "ORA-12154", "DPY-4000",
                    "DPY-4026", "DPY-4027", "DPY-6001", "DPY-2038")  # fmt: skip
_TRANSIENT_QUERY_CODES = ("ORA-00060", "ORA-03113", "ORA-03114", "ORA-03135", "ORA-12170", "DPY-4011", "DPY-6005")
_thick_lock = threading.Lock()


def _positive_int(name: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConnectorError(f"db resource '{name}' (db:oracledb): options.{key} must be a positive integer")
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise ConnectorError(f"db resource '{name}' (db:oracledb): options.{key} must be a positive integer")
    return number


class OracleConnector(DbConnectorBase):
    """``db:oracledb``: a session pool (or one connection per operation) on an Oracle database."""

    config_keys = frozenset({"user", "password", "dsn"})
    options_keys = frozenset({"pool", "pool_enabled", "pool_size", "lib_dir", "oracle", "arraysize", "cache"})

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        missing = [k for k in ("user", "password", "dsn") if not isinstance(init.config.get(k), str)]
        missing += [k for k in ("user", "dsn") if k not in missing and not str(init.config[k]).strip()]
        if missing:
            raise ConnectorError(f"db resource '{init.name}' (db:oracledb) needs config.{', config.'.join(missing)}")
        self.dsn = str(init.config["dsn"]).strip()
        pool = init.options.get("pool") or {}
        if not isinstance(pool, Mapping):
            raise ConnectorError(f"db resource '{init.name}' (db:oracledb): options.pool must be a mapping")
        enabled = pool.get("enabled", init.options.get("pool_enabled", True))
        where = f"db resource '{init.name}' (db:oracledb): options.pool.enabled"
        self.pool_enabled = parse_lax_bool(enabled, where=where, error=ConnectorError)
        self.pool_size = _positive_int(init.name, "pool.size", pool.get("size", init.options.get("pool_size", 4)))
        self.arraysize = _positive_int(init.name, "arraysize", init.options.get("arraysize", DEFAULT_ARRAYSIZE))
        nested = init.options.get("oracle") or {}
        lib_dir = nested.get("lib_dir") if isinstance(nested, Mapping) else None
        self.lib_dir = str(lib_dir or init.options.get("lib_dir") or "") or None
        self._pool: Any = None
        self._lock = threading.Lock()

    def _display_target(self) -> str:
        return f"oracledb {self.config['user']}@{self.dsn}"

    def _oracledb(self) -> Any:
        try:
            import oracledb
        except ModuleNotFoundError:
            raise ConnectorError(
                f"db resource '{self.name}' (db:oracledb) needs python-oracledb: "
                "install the 'oracle' extra (pip install 'aetherflow[oracle]')"
            ) from None
        if self.lib_dir:
            self._thick_mode(oracledb)
        return oracledb

    def _thick_mode(self, oracledb: Any) -> None:
        with _thick_lock:
            if not oracledb.is_thin_mode():
                return  # already initialised in this process
            try:
                oracledb.init_oracle_client(lib_dir=self.lib_dir)
            except oracledb.Error as exc:
                raise ConnectorError(
                    f"db resource '{self.name}' (db:oracledb): cannot load the Oracle client from options.lib_dir "
                    f"'{self.lib_dir}': {first_line(str(exc))}"
                ) from None

    def _connect_error(self, error: BaseException) -> ConnectorError:
        text = str(error)
        transient = not any(code in text for code in _PERMANENT_CODES) and "ORA-01017" not in text
        message = f"cannot connect to {self._where()}: {type(error).__name__}: {first_line(text)}"
        return ConnectorError(self._redact(message), transient=transient)

    def _query_error(self, error: BaseException) -> ConnectorError:
        text = str(error)
        transient = any(code in text for code in _TRANSIENT_QUERY_CODES)
        message = f"query failed on {self._where()}: {type(error).__name__}: {first_line(text)}"
        return ConnectorError(self._redact(message), transient=transient)

    def _credentials(self) -> dict[str, str]:
        return {"user": str(self.config["user"]), "password": str(self.config["password"]), "dsn": self.dsn}

    def _acquire(self) -> tuple[Any, Any]:
        """(oracledb module, a connection): from the pool when enabled, else a new one."""
        oracledb = self._oracledb()
        try:
            if not self.pool_enabled:
                return oracledb, oracledb.connect(**self._credentials())
            with self._lock:
                if self._pool is None:
                    self._pool = oracledb.create_pool(
                        **self._credentials(), min=1, max=self.pool_size, increment=1,
                        getmode=oracledb.POOL_GETMODE_WAIT,
                    )  # fmt: skip
                pool = self._pool
            return oracledb, pool.acquire()
        except oracledb.Error as exc:
            raise self._connect_error(exc) from exc

    @contextmanager
    def connect(self) -> Iterator[Any]:
        """A native python-oracledb connection for the ``with`` block (released to the pool, or closed, after)."""
        _, conn = self._acquire()
        try:
            yield conn
        finally:
            conn.close()  # a pooled connection's close() hands it back to the pool

    def fetch_batches(
        self, sql: str, params: Mapping[str, Any] | None, fetch_size: int, *, cancelled: CancelToken | None = None
    ) -> tuple[list[str], Batches]:
        """Run ``sql`` with ``:name`` binds; the column names and an iterator of row batches."""
        oracledb, conn = self._acquire()
        cursor = conn.cursor()
        cursor.arraysize = max(self.arraysize, fetch_size)
        cursor.prefetchrows = cursor.arraysize + 1
        watcher = CancelWatcher(cancelled, conn.cancel).__enter__()

        def release() -> None:
            watcher.__exit__(None, None, None)
            cursor.close()
            conn.close()

        try:
            cursor.execute(sql, dict(params or {}))
        except oracledb.Error as exc:
            release()
            raise self._stopped_or_query_error(exc, watcher) from exc
        columns = [str(d[0]) for d in cursor.description] if cursor.description else []
        batches = cursor_batches(
            cursor,
            fetch_size,
            errors=(oracledb.Error,),
            fail=lambda exc: self._stopped_or_query_error(exc, watcher),
            release=release,
        )
        return columns, batches

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run one statement and commit; the driver's row count."""
        oracledb, conn = self._acquire()
        try:
            cursor = conn.cursor()
            cursor.execute(sql, dict(params or {}))
            count = int(cursor.rowcount)
            conn.commit()
            return count
        except oracledb.Error as exc:
            raise self._query_error(exc) from exc
        finally:
            conn.close()

    def close(self) -> None:
        """Close the session pool, if one was created."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close(force=True)
