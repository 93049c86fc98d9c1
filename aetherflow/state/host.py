"""Who holds a lock: the identity of this host and whether a process recorded on it is still alive.

A host is the triple (boot id, PID-namespace id, hostname): two invocations see the same process table exactly when all
three are equal, so only then may one judge the other's recorded pid. A part that cannot be read is ``None`` and the
identity then never matches anything (no fast takeover on a guess).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@dataclass(frozen=True, slots=True)
class HostIdentity:
    """The parts a lock row records; ``complete`` only when all three were readable."""

    boot_id: str | None
    pid_ns: str | None
    hostname: str | None

    @property
    def complete(self) -> bool:
        """All three parts known."""
        return bool(self.boot_id and self.pid_ns and self.hostname)

    def same_as(self, other: HostIdentity) -> bool:
        """True when both are complete and equal part by part."""
        return self.complete and other.complete and self == other


@cache
def current_host() -> HostIdentity:
    """This process's host identity (read once: none of the parts changes while a process lives)."""
    return HostIdentity(_boot_id(), _pid_namespace(), socket.gethostname() or None)


def _boot_id() -> str | None:
    try:
        return _BOOT_ID.read_text(encoding="ascii").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def _pid_namespace() -> str | None:
    try:
        return os.readlink("/proc/self/ns/pid") or None
    except OSError:
        return None


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` names a running process in this PID namespace (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return True  # no /proc to tell a zombie apart: kill() found it
    # The state letter follows the command name, which is in parentheses and may itself contain ") ".
    state = stat[stat.rfind(")") + 1 :].split()
    return not state or state[0] not in {"Z", "X"}
