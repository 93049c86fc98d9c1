"""The PostgreSQL lock store: the ``locks`` table of the state schema, its clock being the server's.

Pods on many nodes share the table, so every time (acquired, heartbeat, expiry, staleness) is the server's
``clock_timestamp()``: a node whose clock is off neither steals a live lock nor keeps a dead one. Each operation is
one short transaction; the row in question is locked (``FOR UPDATE``) between reading its holder and taking it.
"""

from __future__ import annotations

from typing import Any

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
from aetherflow.state.pg_connect import PgConnection
from aetherflow.state.sqlite_locks import row_from

_NOW = "SELECT extract(epoch FROM clock_timestamp())::double precision"
_COLUMNS = (
    "key, owner, expires_at, flow_id, pod_name, acquired_at, heartbeat_at, ttl_seconds, host_boot_id, host_pid_ns,"
    " host_name, pid"
)
_INSERT = (
    f"INSERT INTO locks ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (key) DO NOTHING"
)
_SELECT_ROW = f"SELECT {_COLUMNS} FROM locks WHERE key = %s"
_REFRESH = (
    "UPDATE locks SET expires_at = %s, heartbeat_at = %s, ttl_seconds = %s, pod_name = coalesce(%s, pod_name)"
    " WHERE key = %s AND owner = %s"
)
_RENEW = (
    "UPDATE locks SET expires_at = extract(epoch FROM clock_timestamp()) + %s,"
    " heartbeat_at = extract(epoch FROM clock_timestamp()) WHERE key = %s AND owner = %s"
)


def _now(c: Any) -> float:
    return float(c.execute(_NOW).fetchone()[0])


def _fetch_row(c: Any, key: str, now: float, *, lock: bool) -> LockRow | None:
    cur = c.execute(_SELECT_ROW + (" FOR UPDATE" if lock else ""), (key,))
    found = cur.fetchone()
    if found is None:
        return None
    return row_from(dict(zip(_COLUMNS.split(", "), found, strict=True)), now)


class PgLockBackend:
    """Locks in one PostgreSQL state schema (see ``LockBackend``)."""

    def __init__(self, url: str, *, lock_timeout_ms: int | None = None) -> None:
        """Connect; ``lock_timeout_ms`` bounds how long a statement waits for a row another session holds."""
        self.url = url
        self._db = PgConnection(url, lock_timeout_ms=lock_timeout_ms)

    def acquire(self, key: str, claim: Claim) -> Acquired | Busy:
        """See ``LockBackend.acquire``."""

        def body(c: Any) -> Acquired | Busy:
            now = _now(c)
            host = claim.host
            values = (key, claim.owner, now + claim.ttl_seconds, claim.flow_id, claim.pod_name, now, now)
            insert = (*values, claim.ttl_seconds, host.boot_id, host.pid_ns, host.hostname, claim.pid)
            # The common case first: nobody holds the key, one statement takes it. A row released between the
            # insert and the read is simply tried again.
            row = None
            for _ in range(3):
                if c.execute(_INSERT, insert).rowcount == 1:
                    return Acquired()
                row = _fetch_row(c, key, now, lock=True)
                if row is not None:
                    break
            if row is None:
                return Busy("unknown", now)
            if row.owner == claim.owner:
                c.execute(_REFRESH, (now + claim.ttl_seconds, now, claim.ttl_seconds, claim.pod_name, key, claim.owner))
                return Acquired()
            reason = takeover_reason(row, claim, now)
            if reason is None:
                return Busy(row.owner, row.expires_at)
            c.execute("DELETE FROM locks WHERE key = %s", (key,))
            c.execute(_INSERT, insert)
            return Acquired(row.owner, reason)

        return self._db.transaction(f"acquiring lock {key}", body)

    def renew(self, owner: str, keys: list[tuple[str, int]]) -> list[bool]:
        """See ``LockBackend.renew``."""

        def body(c: Any) -> list[bool]:
            return [c.execute(_RENEW, (ttl, key, owner)).rowcount == 1 for key, ttl in keys]

        return self._db.transaction("renewing locks", body)

    def release(self, key: str, owner: str) -> bool:
        """See ``LockBackend.release``."""
        sql = "DELETE FROM locks WHERE key = %s AND owner = %s"
        return bool(self._db.transaction(f"releasing lock {key}", lambda c: c.execute(sql, (key, owner)).rowcount == 1))

    def list_rows(self) -> list[LockRow]:
        """See ``LockBackend.list_rows``: ``expired`` judged by the server's clock."""

        def body(c: Any) -> list[LockRow]:
            now = _now(c)
            rows = c.execute(f"SELECT {_COLUMNS} FROM locks ORDER BY key").fetchall()
            return [row_from(dict(zip(_COLUMNS.split(", "), r, strict=True)), now) for r in rows]

        return self._db.read("listing locks", body)

    def release_any(self, key: str, *, run_id: str | None, force: bool) -> LockRow:
        """See ``LockBackend.release_any``."""

        def body(c: Any) -> LockRow:
            row = _fetch_row(c, key, _now(c), lock=True)
            if row is None:
                raise LockNotFound(key)
            if not force and run_id not in (row.owner, run_id_of(row.owner)):
                raise LockHeldByOther(key, row.owner)
            c.execute("DELETE FROM locks WHERE key = %s", (key,))
            return row

        return self._db.transaction(f"releasing lock {key}", body)

    def heartbeat_session(self, busy_timeout_seconds: float) -> PgLockBackend:
        """See ``LockBackend.heartbeat_session``: its own connection, waiting at most that long on a locked row."""
        return PgLockBackend(self.url, lock_timeout_ms=max(1, int(busy_timeout_seconds * 1000)))

    def close(self) -> None:
        """See ``LockBackend.close``."""
        self._db.close()
