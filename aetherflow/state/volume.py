"""The state-volume check: is the state directory writable, which filesystem holds it, which journal mode to use.

Called by the SQLite store before it opens the database (docs/reference/state.md, steps 1-3) and by ``doctor``.
SQLite's locking is unreliable on network filesystems (NFS, SMB, FUSE mounts such as s3fs), where WAL mode's
shared-memory index cannot work at all; the check picks ``DELETE`` there, or refuses under the strict setting.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from aetherflow.errors import StateInputError

MOUNTINFO_PATH = Path("/proc/self/mountinfo")

#: filesystem types the spec treats as network filesystems, besides every ``fuse.*`` type
NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "cephfs", "glusterfs", "lustre", "9p", "afs", "gpfs", "beegfs"}
)

#: ``statfs`` ``f_type`` magic numbers (linux/magic.h and filesystem sources) for systems without mountinfo
_STATFS_MAGIC: dict[int, tuple[str, bool]] = {
    0xEF53: ("ext4", False),  # shared by ext2/ext3/ext4
    0x58465342: ("xfs", False),
    0x9123683E: ("btrfs", False),
    0x01021994: ("tmpfs", False),
    0x794C7630: ("overlay", False),
    0x2FC12FC1: ("zfs", False),
    0xF2F52010: ("f2fs", False),
    0x858458F6: ("ramfs", False),
    0x4D44: ("vfat", False),
    0x5346544E: ("ntfs", False),
    0x6969: ("nfs", True),
    0xFF534D42: ("cifs", True),
    0xFE534D42: ("smb3", True),
    0x517B: ("smbfs", True),
    0x00C36400: ("ceph", True),
    0x0BD00BD0: ("lustre", True),
    0x01021997: ("9p", True),
    0x5346414F: ("afs", True),
    0x47504653: ("gpfs", True),
    # FUSE hides the real filesystem behind one magic number; every ``fuse.*`` type counts as network.
    0x65735546: ("fuse", True),
}


@dataclass(frozen=True, slots=True)
class MountEntry:
    """One line of ``/proc/self/mountinfo``: where a filesystem is mounted and its type."""

    mount_point: str
    fstype: str
    source: str


def is_network_filesystem(fstype: str) -> bool:
    """True for the spec's network filesystem types and any ``fuse.<subtype>``."""
    return fstype in NETWORK_FILESYSTEMS or fstype.startswith("fuse.")


def _unescape(field: str) -> str:
    # The kernel writes space, tab, newline and backslash in paths as 3-digit octal escapes (\040, \011, \012, \134).
    if "\\" not in field:
        return field
    out: list[str] = []
    i = 0
    while i < len(field):
        chunk = field[i : i + 4]
        if len(chunk) == 4 and chunk[0] == "\\" and all(c in "01234567" for c in chunk[1:]):
            out.append(chr(int(chunk[1:], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[MountEntry]:
    """The entries of a mountinfo text, in file order; malformed lines are skipped."""
    entries: list[MountEntry] = []
    for line in text.splitlines():
        # id parent major:minor root mount-point options [optional fields...] - fstype source super-options
        fields = line.split(" ")
        try:
            sep = fields.index("-", 6)
        except ValueError:
            continue
        if len(fields) < sep + 3:
            continue
        entries.append(MountEntry(_unescape(fields[4]), _unescape(fields[sep + 1]), _unescape(fields[sep + 2])))
    return entries


def _contains(mount_point: str, path: str) -> bool:
    if mount_point == "/":
        return True
    return path == mount_point or path.startswith(mount_point.rstrip("/") + "/")


def find_mount(entries: list[MountEntry], path: str) -> MountEntry | None:
    """The entry whose mount point is the longest prefix of ``path``; among equals the last (the one on top)."""
    best: MountEntry | None = None
    for entry in entries:
        if _contains(entry.mount_point, path) and (best is None or len(entry.mount_point) >= len(best.mount_point)):
            best = entry
    return best


def _statfs_type(path: Path) -> tuple[str, bool]:
    if not sys.platform.startswith("linux"):
        return "unknown", False
    # imported here: statfs is the fallback when mountinfo cannot be read, and ctypes costs every run ~0.4 MiB
    import ctypes
    import ctypes.util

    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return "unknown", False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    # struct statfs starts with f_type (a C long on every Linux ABI); 256 bytes covers the whole struct.
    buf = ctypes.create_string_buffer(256)
    if libc.statfs(os.fsencode(path), buf) != 0:
        return "unknown", False
    magic = ctypes.c_ulong.from_buffer(buf).value & 0xFFFFFFFF
    return _STATFS_MAGIC.get(magic, (f"unknown(0x{magic:x})", False))


def _existing_ancestor(path: Path) -> Path:
    current = Path(os.path.realpath(path))
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def detect_filesystem(path: Path, *, mountinfo: Path = MOUNTINFO_PATH) -> tuple[str, bool]:
    """``(fstype, is_network)`` of the filesystem holding ``path`` (which need not exist yet).

    The longest matching mount point of ``mountinfo`` decides; without a readable mountinfo, ``statfs`` magic
    numbers on Linux; else ``("unknown", False)``.
    """
    # realpath resolves symlinks of the part that exists and keeps the rest: a mount point is always an existing path.
    target = os.path.realpath(path)
    try:
        text = mountinfo.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return _statfs_type(_existing_ancestor(path))
    entry = find_mount(parse_mountinfo(text), target)
    if entry is None:
        return _statfs_type(_existing_ancestor(path))
    return entry.fstype, is_network_filesystem(entry.fstype)


def choose_journal_mode(
    fstype: str, network: bool, requested: str, strict_fs: bool, path: Path | str
) -> tuple[str, bool]:
    """``(journal_mode, warn)``: ``wal`` or ``delete``, and whether to log ``state_network_fs``.

    ``auto`` picks WAL on a local filesystem and DELETE on a network one; ``wal``/``delete`` are forced. Every choice on
    a network filesystem warns. ``strict_fs`` refuses a network filesystem outright (exit 2).
    """
    mode = requested.strip().lower()
    if mode not in {"auto", "wal", "delete"}:
        raise StateInputError(
            f"Unknown state journal mode {requested!r}: set AETHERFLOW_STATE_JOURNAL_MODE to auto, wal or delete"
        )
    if network and strict_fs:
        raise StateInputError(
            f"State path {path} is on a network filesystem ({fstype}); refusing to use SQLite there "
            "(AETHERFLOW_STATE_STRICT_FS=true)"
        )
    if mode == "auto":
        mode = "delete" if network else "wal"
    return mode, network


def check_writable(directory: Path) -> None:
    """Create ``directory`` (and its parents) and prove a file can be written in it, else raise (exit 2)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # A real file, not os.access: permission bits say nothing about a full disk, SELinux or a FUSE mount's rules.
        fd, probe = tempfile.mkstemp(prefix=".aetherflow-write-check-", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise StateInputError(f"State directory not writable: {directory}") from exc
