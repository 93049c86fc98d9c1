"""What a lock store must do, and the rules every store applies the same way (owners, heartbeat, staleness).

Owners are invocations, ``<run_id>#<token>``: two processes of one run never share a lock. The invocation that holds
its run's lock (``run:<flow_id>:<run_id>``) inherits every other lock whose owner has the same run id, so a resumed
run takes back what its crashed predecessor held. A lock may be taken from another owner when it is expired, when it
is stale (no heartbeat for three intervals, judged by the store's clock), or at once when its holder recorded this
very host and its pid is gone.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol

from aetherflow.errors import StateError
from aetherflow.state.host import HostIdentity, pid_alive

#: the heartbeat never waits longer than this between renewals, whatever the TTL
MAX_HEARTBEAT_INTERVAL = 10.0


def heartbeat_interval(ttl_seconds: float) -> float:
    """Seconds between renewals of a lock with this TTL: ``min(ttl / 3, 10)``."""
    return min(ttl_seconds / 3, MAX_HEARTBEAT_INTERVAL)


def stale_after(ttl_seconds: float) -> float:
    """Seconds without a heartbeat after which a lock is stale: three intervals."""
    return 3 * heartbeat_interval(ttl_seconds)


def run_takeover_seconds(ttl_seconds: float) -> float:
    """How long a second invocation of a run waits for the holder by default: stale threshold plus one interval."""
    return stale_after(ttl_seconds) + heartbeat_interval(ttl_seconds)


def run_lock_key(flow_id: str, run_id: str) -> str:
    """The implicit lock every run takes."""
    return f"run:{flow_id}:{run_id}"


def new_owner(run_id: str) -> str:
    """A fresh invocation owner of ``run_id``."""
    return f"{run_id}#{secrets.token_hex(4)}"


def run_id_of(owner: str) -> str:
    """The run id part of an owner (rows written before invocation owners hold the bare run id)."""
    return owner.rsplit("#", 1)[0] if "#" in owner else owner


class LockNotFound(StateError):
    """``locks release`` named a key that has no row (exit 1)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"Lock not found: {key}")
        self.key = key


class LockHeldByOther(StateError):
    """``locks release --owner`` named a run that does not hold the lock (exit 1); the row is kept."""

    def __init__(self, key: str, owner: str) -> None:
        super().__init__(f"Lock {key} is held by {owner}")
        self.key, self.owner = key, owner


#: the host of a row written before rows recorded one
UNKNOWN_HOST = HostIdentity(None, None, None)


@dataclass(frozen=True, slots=True)
class LockRow:
    """One lock row; times are Unix seconds; ``expired`` is relative to when it was read."""

    key: str
    owner: str
    expires_at: float
    flow_id: str | None
    pod_name: str | None
    acquired_at: float | None
    heartbeat_at: float | None
    ttl_seconds: int | None
    expired: bool
    host: HostIdentity = UNKNOWN_HOST
    pid: int | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """What an invocation writes when it takes a lock, and whose locks it may inherit."""

    owner: str
    ttl_seconds: int
    flow_id: str | None
    pod_name: str | None
    host: HostIdentity
    pid: int
    inherit_run_id: str | None = None


@dataclass(frozen=True, slots=True)
class Acquired:
    """The lock is the claimant's; ``previous_owner`` and ``reason`` when it was taken from someone."""

    previous_owner: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Busy:
    """Another live invocation holds the lock."""

    owner: str
    expires_at: float


def takeover_reason(row: LockRow, claim: Claim, now: float) -> str | None:
    """Why ``claim`` may take ``row`` from its owner, or None (busy).

    ``inherited`` (the claimant holds the run lock of the owner's run), ``expired``, ``stale`` (no heartbeat for
    three intervals), ``holder_gone`` (recorded on this host, and its pid is no longer running).
    """
    if claim.inherit_run_id is not None and run_id_of(row.owner) == claim.inherit_run_id:
        return "inherited"
    if row.expires_at <= now:
        return "expired"
    last_sign = row.heartbeat_at if row.heartbeat_at is not None else row.acquired_at
    ttl = row.ttl_seconds if row.ttl_seconds else claim.ttl_seconds
    if last_sign is not None and now - last_sign > stale_after(ttl):
        return "stale"
    if row.pid is not None and row.host.same_as(claim.host) and not pid_alive(row.pid):
        return "holder_gone"
    return None


class LockBackend(Protocol):
    """A lock store. Each method is one short transaction; times come from the store's clock."""

    def acquire(self, key: str, claim: Claim) -> Acquired | Busy:
        """Take ``key`` for ``claim.owner``: new row, own row refreshed, or taken over (``takeover_reason``)."""

    def renew(self, owner: str, keys: list[tuple[str, int]]) -> list[bool]:
        """Heartbeat ``(key, ttl)`` pairs owned by ``owner``; False where the row is no longer the owner's."""

    def release(self, key: str, owner: str) -> bool:
        """Delete ``key`` if ``owner`` holds it; True when a row was deleted."""

    def list_rows(self) -> list[LockRow]:
        """Every lock row ordered by key."""

    def release_any(self, key: str, *, run_id: str | None, force: bool) -> LockRow:
        """The operator's release: the row if its owner's run id is ``run_id`` (any owner with ``force``)."""

    def heartbeat_session(self, busy_timeout_seconds: float) -> LockBackend:
        """A second connection for the heartbeat thread, giving up on a busy store after ``busy_timeout_seconds``."""

    def close(self) -> None:
        """Close the connection."""
