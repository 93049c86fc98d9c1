"""The SQLite lock store: the ``locks`` table of the state database, its clock being this machine's wall clock.

Every operation is one short ``BEGIN IMMEDIATE`` transaction on a connection kept open for the backend's life, so the
read of the current holder and the write that takes the lock cannot interleave with another process.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any, TypeVar

from aetherflow.errors import StateError
from aetherflow.state.host import HostIdentity
from aetherflow.state.lock_backend import (
    Acquired,
    Busy,
    Claim,
    LockHeldByOther,
    LockNotFound,
    LockRow,
    run_id_of,
    takeover_reason,
)

T = TypeVar("T")

#: retries after SQLite's own busy timeout ran out
BUSY_RETRIES = 3
BUSY_RETRY_DELAY = (0.5, 2.0)

_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6

_DELETE_EXPIRED = "DELETE FROM locks WHERE expires_at <= ? RETURNING key, owner"
_SELECT_ROW = "SELECT * FROM locks WHERE key = ?"
_SELECT_ALL = "SELECT * FROM locks ORDER BY key"
_INSERT = (
    "INSERT INTO locks (key, owner, expires_at, flow_id, pod_name, acquired_at, heartbeat_at, ttl_seconds,"
    " host_boot_id, host_pid_ns, host_name, pid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (key) DO NOTHING"
)
_REFRESH = (
    "UPDATE locks SET expires_at = ?, heartbeat_at = ?, ttl_seconds = ?, pod_name = coalesce(?, pod_name)"
    " WHERE key = ? AND owner = ?"
)
_DELETE_KEY = "DELETE FROM locks WHERE key = ?"
_DELETE_OWNED = "DELETE FROM locks WHERE key = ? AND owner = ?"
_RENEW = "UPDATE locks SET expires_at = ?, heartbeat_at = ? WHERE key = ? AND owner = ?"


def is_busy(exc: sqlite3.Error) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED: another connection holds the write lock."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return (code & 0xFF) in (_SQLITE_BUSY, _SQLITE_LOCKED)
    text = str(exc)
    return "locked" in text or "busy" in text


def connect(db_path: Path, busy_timeout_ms: int, synchronous: str | None) -> sqlite3.Connection:
    """Open an existing state database (never creates it: the store creates and migrates it)."""
    if not db_path.is_file():
        raise StateError(f"State database not found: {db_path}")
    uri = f"{db_path.absolute().as_uri()}?mode=rw"
    try:
        conn = sqlite3.connect(
            uri, uri=True, timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise StateError(f"Cannot open state database {db_path}: {exc}") from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if synchronous is None:
            # The store's rule: NORMAL is durable enough in WAL, DELETE mode needs FULL.
            (journal,) = conn.execute("PRAGMA journal_mode").fetchone()
            synchronous = "NORMAL" if str(journal).lower() == "wal" else "FULL"
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise StateError(f"Invalid SQLite synchronous setting {synchronous!r} (use NORMAL, FULL or EXTRA)")
        conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
    except BaseException:
        conn.close()
        raise
    return conn


def transaction(
    conn: sqlite3.Connection,
    db_path: Path,
    what: str,
    body: Callable[[sqlite3.Connection], T],
    *,
    retries: int = BUSY_RETRIES,
) -> T:
    """Run ``body`` inside ``BEGIN IMMEDIATE … COMMIT``; busy beyond the timeout is retried, then a StateError."""
    attempt = 0
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = body(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
            return result
        except sqlite3.Error as exc:
            if is_busy(exc) and attempt < retries:
                attempt += 1
                time.sleep(random.uniform(*BUSY_RETRY_DELAY))
                continue
            raise _state_error(exc, db_path, what, retries) from exc


def _state_error(exc: sqlite3.Error, db_path: Path, what: str, retries: int) -> StateError:
    if is_busy(exc):
        return StateError(
            f"State database {db_path} stayed locked by another process while {what} "
            f"(busy timeout and {retries} retries exhausted); check for a stuck process using it"
        )
    if "no such table" in str(exc):
        return StateError(
            f"State database {db_path} has no locks table while {what}: "
            "not an aetherflow state database, or never initialised (run `aetherflow state init`)"
        )
    if "no column" in str(exc) or "has no column" in str(exc):
        return StateError(
            f"State database {db_path} has an older schema while {what}: open it once with a run to migrate it"
        )
    return StateError(f"State database {db_path} failed while {what}: {exc}")


def row_from(values: Mapping[str, Any], now: float) -> LockRow:
    """A ``LockRow`` from a row read by column name (schema version 1 rows lack the holder's host and pid)."""
    acquired, heartbeat, ttl, pid = (values.get(k) for k in ("acquired_at", "heartbeat_at", "ttl_seconds", "pid"))
    return LockRow(
        key=str(values["key"]),
        owner=str(values["owner"]),
        expires_at=float(values["expires_at"]),
        flow_id=values.get("flow_id"),
        pod_name=values.get("pod_name"),
        acquired_at=None if acquired is None else float(acquired),
        heartbeat_at=None if heartbeat is None else float(heartbeat),
        ttl_seconds=None if ttl is None else int(ttl),
        expired=float(values["expires_at"]) <= now,
        host=HostIdentity(values.get("host_boot_id"), values.get("host_pid_ns"), values.get("host_name")),
        pid=None if pid is None else int(pid),
    )


def _fetch_row(c: sqlite3.Connection, key: str, now: float) -> LockRow | None:
    cur = c.execute(_SELECT_ROW, (key,))
    found = cur.fetchone()
    if found is None:
        return None
    names = [d[0] for d in cur.description]
    return row_from(dict(zip(names, found, strict=True)), now)


class SqliteLockBackend:
    """Locks in one SQLite state database (see ``LockBackend``)."""

    def __init__(
        self,
        db_path: Path,
        *,
        busy_timeout_ms: int = 30000,
        synchronous: str | None = None,
        clock: Callable[[], float] = time.time,
        retries: int = BUSY_RETRIES,
    ) -> None:
        """Open a connection to an existing database; ``clock`` is the database clock (the local wall clock)."""
        self.db_path = Path(db_path)
        self._synchronous = synchronous
        self._clock = clock
        self._retries = retries
        self._conn = connect(self.db_path, busy_timeout_ms, synchronous)

    def _tx(self, what: str, body: Callable[[sqlite3.Connection], T]) -> T:
        return transaction(self._conn, self.db_path, what, body, retries=self._retries)

    def acquire(self, key: str, claim: Claim) -> Acquired | Busy:
        """See ``LockBackend.acquire``."""
        now = self._clock()

        def body(c: sqlite3.Connection) -> Acquired | Busy:
            expired_owner = None
            for expired_key, owner in c.execute(_DELETE_EXPIRED, (now,)).fetchall():
                if expired_key == key and owner != claim.owner:
                    expired_owner = owner
            host = claim.host
            values = (key, claim.owner, now + claim.ttl_seconds, claim.flow_id, claim.pod_name, now, now)
            insert = (*values, claim.ttl_seconds, host.boot_id, host.pid_ns, host.hostname, claim.pid)
            # The common case first: nobody holds the key, one statement takes it.
            if c.execute(_INSERT, insert).rowcount == 1:
                return Acquired(expired_owner, "expired" if expired_owner is not None else None)
            row = _fetch_row(c, key, now)
            if row is None:  # cannot happen inside the write transaction; answer busy rather than guess
                return Busy("unknown", now)
            if row.owner == claim.owner:
                c.execute(_REFRESH, (now + claim.ttl_seconds, now, claim.ttl_seconds, claim.pod_name, key, claim.owner))
                return Acquired()
            reason = takeover_reason(row, claim, now)
            if reason is None:
                return Busy(row.owner, row.expires_at)
            c.execute(_DELETE_KEY, (key,))
            c.execute(_INSERT, insert)
            return Acquired(row.owner, reason)

        return self._tx(f"acquiring lock {key}", body)

    def renew(self, owner: str, keys: list[tuple[str, int]]) -> list[bool]:
        """See ``LockBackend.renew``."""
        now = self._clock()

        def body(c: sqlite3.Connection) -> list[bool]:
            return [c.execute(_RENEW, (now + ttl, now, key, owner)).rowcount == 1 for key, ttl in keys]

        return self._tx("renewing locks", body)

    def release(self, key: str, owner: str) -> bool:
        """See ``LockBackend.release``."""
        return self._tx(f"releasing lock {key}", lambda c: c.execute(_DELETE_OWNED, (key, owner)).rowcount == 1)

    def list_rows(self) -> list[LockRow]:
        """See ``LockBackend.list_rows``: a plain read, no write lock taken."""
        now = self._clock()
        try:
            cur = self._conn.execute(_SELECT_ALL)
            names = [d[0] for d in cur.description]
            return [row_from(dict(zip(names, r, strict=True)), now) for r in cur.fetchall()]
        except sqlite3.Error as exc:
            if is_busy(exc):
                raise StateError(f"State database {self.db_path} is locked by another process; retry later") from exc
            raise StateError(
                f"State database {self.db_path} cannot be read as a lock table ({exc}): "
                "not an aetherflow state database, or never initialised"
            ) from exc

    def release_any(self, key: str, *, run_id: str | None, force: bool) -> LockRow:
        """See ``LockBackend.release_any``."""
        now = self._clock()

        def body(c: sqlite3.Connection) -> LockRow:
            row = _fetch_row(c, key, now)
            if row is None:
                raise LockNotFound(key)
            if not force and run_id not in (row.owner, run_id_of(row.owner)):
                raise LockHeldByOther(key, row.owner)
            c.execute(_DELETE_KEY, (key,))
            return row

        return self._tx(f"releasing lock {key}", body)

    def heartbeat_session(self, busy_timeout_seconds: float) -> SqliteLockBackend:
        """See ``LockBackend.heartbeat_session``: no retries beyond the (short) busy timeout."""
        return SqliteLockBackend(
            self.db_path,
            busy_timeout_ms=max(1, int(busy_timeout_seconds * 1000)),
            synchronous=self._synchronous,
            clock=self._clock,
            retries=0,
        )

    def close(self) -> None:
        """See ``LockBackend.close``."""
        self._conn.close()
