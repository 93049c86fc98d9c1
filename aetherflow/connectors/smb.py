"""What both SMB connectors share (``smb:smbclient``, ``smb:pysmb``): config, paths, the step operations and the
upstream connector contract, on top of a few primitives each driver implements.

Step operations: ``list_files`` (regular files, recursive walk, glob on the name), ``download`` (``<name>.tmp`` then
renamed locally), ``upload`` (written as ``<name>.part`` on the share, then renamed over the final name, so the final
name never holds a partial file; missing remote directories are created), ``delete``. Upstream's contract is kept for
legacy plugins: ``list``, ``read_bytes``, ``write_bytes``, ``mkdir``, ``mkdir_recursive``, ``delete_recursive``.

One session per connector, reused for the run and used by one operation at a time (pysmb's connection is not
thread-safe). Failures become ``ConnectorError``: transient for refused/reset/timed-out connections (the session is
dropped, so the runner's next attempt reconnects), permanent for authentication, missing or forbidden paths.
"""

from __future__ import annotations

import abc
import contextlib
import fnmatch
import io
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from aetherflow.api import (
    CancelToken,
    Connector,
    ConnectorError,
    ConnectorInit,
    Interrupted,
    RemoteFileMeta,
    check_cancelled,
)
from aetherflow.connectors._files import replaced_when_done
from aetherflow.connectors._smb_paths import SmbPath, join_remote, parse_smb_path

Progress = Callable[[int], None]
CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class SmbStat:
    """One directory entry as a driver reports it."""

    name: str
    is_dir: bool
    size: int
    mtime: float


class SmbConnectorBase(Connector, abc.ABC):
    """Config, paths, operations and error handling common to the SMB drivers."""

    driver_label: str = "smb"
    library: str = ""  # the pip package the driver needs, for the missing-extra message
    config_keys = frozenset({"server", "share", "username", "user", "password", "port", "domain"})
    options_keys = frozenset({"timeout", "cache"})

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        cfg = init.config
        self.server = str(cfg.get("server") or "").strip()
        if not self.server:
            raise ConnectorError(f"SMB resource '{self.name}' needs config.server")
        self.share = str(cfg.get("share") or "").strip() or None
        try:
            self.port = int(cfg.get("port", 445))
            self.timeout = float(init.options.get("timeout", 30))
        except (TypeError, ValueError):
            raise ConnectorError(
                f"SMB resource '{self.name}': config.port and options.timeout must be numbers"
            ) from None
        self.username = str(cfg.get("username") or cfg.get("user") or "")
        password = cfg.get("password")
        self._password = "" if password is None else str(password)
        self.domain = str(cfg.get("domain") or "")
        self._lock = threading.RLock()

    # -- driver primitives -------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def _connect(self) -> None:
        """Open the session if none is open (raise ``ConnectorError`` classified as transient or not)."""

    @abc.abstractmethod
    def _disconnect(self) -> None:
        """Drop the session (never raises)."""

    @abc.abstractmethod
    def _scandir(self, path: SmbPath) -> list[SmbStat]:
        """Entries of a directory, without ``.`` and ``..``."""

    @abc.abstractmethod
    def _stat(self, path: SmbPath) -> SmbStat:
        """One entry (``FileNotFoundError`` when missing)."""

    @abc.abstractmethod
    def _read_into(self, path: SmbPath, sink: IO[bytes]) -> None:
        """Write the file's bytes to ``sink``."""

    @abc.abstractmethod
    def _write_from(self, path: SmbPath, source: IO[bytes]) -> None:
        """Create or truncate the file and write ``source`` into it."""

    @abc.abstractmethod
    def _replace(self, source: SmbPath, target: SmbPath) -> None:
        """Rename ``source`` to ``target``, replacing ``target`` if it exists."""

    @abc.abstractmethod
    def _remove(self, path: SmbPath) -> None:
        """Delete one file."""

    @abc.abstractmethod
    def _rmdir(self, path: SmbPath) -> None:
        """Delete one empty directory."""

    @abc.abstractmethod
    def _mkdir(self, path: SmbPath) -> None:
        """Create one directory (its parent exists)."""

    @abc.abstractmethod
    def _classify(self, exc: Exception, what: str, target: str) -> ConnectorError:
        """The ``ConnectorError`` for a driver failure."""

    # -- step operations ---------------------------------------------------------------------------------------------
    def list_files(
        self,
        remote_dir: str,
        *,
        pattern: str = "*",
        recursive: bool = False,
        min_age_seconds: float = 0.0,
        cancelled: CancelToken | None = None,
    ) -> list[dict[str, Any]]:
        """Regular files under ``remote_dir`` whose name matches ``pattern``, sorted by ``rel_path``."""
        root = self.parse(remote_dir)
        newest = time.time() - min_age_seconds if min_age_seconds > 0 else None
        found: list[dict[str, Any]] = []
        with self._operation("list", remote_dir):
            pending: deque[tuple[SmbPath, str]] = deque([(root, "")])
            while pending:
                check_cancelled(cancelled, f"SMB listing of {remote_dir}")
                current, rel_dir = pending.popleft()
                for entry in self._scandir(current):
                    rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                    if entry.is_dir:
                        if recursive:
                            pending.append((current.child(entry.name), rel))
                        continue
                    if not fnmatch.fnmatchcase(entry.name, pattern):
                        continue
                    if newest is not None and entry.mtime > newest:
                        continue  # still being written, probably
                    found.append(_file_entry(join_remote(remote_dir, rel), rel, entry))
        return sorted(found, key=lambda e: str(e["rel_path"]))

    def download(
        self,
        remote_path: str,
        local_path: Path | str,
        *,
        cancelled: CancelToken | None = None,
        progress: Progress | None = None,
    ) -> int:
        """Copy ``remote_path`` to ``local_path`` (written as ``<name>.tmp`` then renamed); return the byte count."""
        path = self.parse(remote_path)
        local = Path(local_path)
        local.parent.mkdir(parents=True, exist_ok=True)
        with (
            self._operation("download", remote_path),
            replaced_when_done(local) as tmp,
            tmp.open("wb") as out,
        ):
            sink = _Counted(out, cancelled, progress, f"SMB download of {remote_path}")
            self._read_into(path, sink)  # type: ignore[arg-type]
        return sink.count

    def upload(
        self,
        local_path: Path | str,
        remote_path: str,
        *,
        cancelled: CancelToken | None = None,
        progress: Progress | None = None,
    ) -> int:
        """Write ``local_path`` to ``<remote_path>.part``, then rename it over ``remote_path``; return the bytes."""
        target = self.parse(remote_path)
        if not target.parts:
            raise ConnectorError(f"SMB upload target '{remote_path}' is a share root, not a file path")
        part = target.with_name(target.name + ".part")
        with Path(local_path).open("rb") as raw, self._operation("upload", remote_path):
            self._makedirs(target.parent())
            source = _Counted(raw, cancelled, progress, f"SMB upload of {local_path} to {remote_path}")
            try:
                self._write_from(part, source)  # type: ignore[arg-type]
            except BaseException as exc:
                self._discard(part, stopped=isinstance(exc, Interrupted))
                raise
            self._replace(part, target)
        return source.count

    def delete(self, remote_path: str) -> None:
        """Remove one remote file (or empty directory); a missing one is a (permanent) error."""
        path = self.parse(remote_path)
        if not path.parts:
            raise ConnectorError(f"SMB delete of '{remote_path}': refusing to delete a share root")
        with self._operation("delete", remote_path):
            if self._stat(path).is_dir:
                self._rmdir(path)
            else:
                self._remove(path)

    def close(self) -> None:
        """Close the session."""
        with self._lock:
            self._disconnect()

    # -- upstream's connector contract (legacy plugins call these) --------------------------------------------------
    def list(self, remote_dir: str) -> list[RemoteFileMeta]:
        """Files and directories directly in ``remote_dir``."""
        with self._operation("list", remote_dir):
            entries = self._scandir(self.parse(remote_dir))
        return [
            RemoteFileMeta(
                path=join_remote(remote_dir, e.name),
                name=e.name,
                is_dir=e.is_dir,
                size=None if e.is_dir else e.size,
                mtime=e.mtime,
            )
            for e in entries
        ]

    def read_bytes(self, remote_path: str) -> bytes:
        """The whole file."""
        buffer = io.BytesIO()
        with self._operation("read", remote_path):
            self._read_into(self.parse(remote_path), buffer)
        return buffer.getvalue()

    def write_bytes(self, remote_path: str, data: bytes) -> None:
        """Write ``data`` as the whole file (atomically, like ``upload``)."""
        target = self.parse(remote_path)
        part = target.with_name(target.name + ".part")
        with self._operation("write", remote_path):
            self._makedirs(target.parent())
            self._write_from(part, io.BytesIO(bytes(data)))
            self._replace(part, target)

    def mkdir(self, remote_dir: str) -> None:
        """Create one directory."""
        with self._operation("mkdir", remote_dir):
            self._mkdir(self.parse(remote_dir))

    def mkdir_recursive(self, remote_dir: str) -> None:
        """Create a directory and its missing parents."""
        with self._operation("mkdir", remote_dir):
            self._makedirs(self.parse(remote_dir))

    def delete_recursive(self, remote_path: str) -> None:
        """Delete a file, or a directory with everything in it."""
        with self._operation("delete", remote_path):
            self._delete_tree(self.parse(remote_path))

    # -- helpers -----------------------------------------------------------------------------------------------------
    def parse(self, remote_path: str) -> SmbPath:
        """The share and components of a remote path (see ``_smb_paths``)."""
        return parse_smb_path(remote_path, default_share=self.share, server=self.server)

    def _makedirs(self, path: SmbPath) -> None:
        for depth in range(1, len(path.parts) + 1):
            current = SmbPath(path.share, path.parts[:depth])
            try:
                if self._stat(current).is_dir:
                    continue
            except FileNotFoundError:
                self._mkdir(current)
                continue
            raise ConnectorError(f"SMB path {current} exists and is not a directory")

    def _discard(self, part: SmbPath, *, stopped: bool) -> None:
        """Best effort: remove a half-written ``.part`` (a stale one is overwritten by the next attempt anyway).

        A transfer stopped half-way leaves the session mid-request (pysmb) with the file still open, so a stop
        removes it on a fresh session.
        """
        with contextlib.suppress(Exception):
            if stopped:
                self._disconnect()
                self._connect()
            self._remove(part)

    def _delete_tree(self, path: SmbPath) -> None:
        if not self._stat(path).is_dir:
            self._remove(path)
            return
        for entry in self._scandir(path):
            self._delete_tree(path.child(entry.name))
        if path.parts:
            self._rmdir(path)

    def _where(self) -> str:
        return f"{self.server}:{self.port}"

    def _missing_library(self, exc: ImportError) -> ConnectorError:
        return ConnectorError(
            f"SMB resource '{self.name}' (smb:{self.driver_label}) needs the {self.library} library: "
            f"install aetherflow[smb] ({type(exc).__name__}: {exc})"
        )

    @contextlib.contextmanager
    def _operation(self, what: str, remote_path: str) -> Iterator[None]:
        """Hold the session for one operation and turn driver failures into ``ConnectorError``."""
        target = f"{remote_path} on {self._where()} (resource '{self.name}')"
        with self._lock:
            self._connect()
            try:
                yield
            except Interrupted:
                self._disconnect()  # a transfer stopped half-way leaves the session in an unknown state
                raise
            except ConnectorError as exc:
                if exc.transient:
                    self._disconnect()
                raise
            except FileNotFoundError as exc:
                raise ConnectorError(f"SMB {what}: remote path not found: {target}") from exc
            except Exception as exc:
                error = self._classify(exc, what, target)
                if error.transient:
                    self._disconnect()
                raise error from exc


def _file_entry(path: str, rel_path: str, entry: SmbStat) -> dict[str, Any]:
    """The spec's remote file entry (the same shape as SFTP's)."""
    return {
        "path": path,
        "rel_path": rel_path,
        "name": entry.name,
        "is_dir": False,
        "size": entry.size,
        "mtime": int(entry.mtime),
        "sha256": None,
    }


class _Counted:
    """A file wrapper that counts bytes, reports progress and stops the transfer when the step is cancelled."""

    def __init__(self, raw: IO[bytes], cancelled: CancelToken | None, progress: Progress | None, what: str) -> None:
        self._raw = raw
        self._cancelled = cancelled
        self._progress = progress
        self._what = what
        self.count = 0

    def _advance(self, size: int) -> None:
        self.count += size
        if self._progress is not None:
            self._progress(self.count)
        check_cancelled(self._cancelled, self._what)

    def read(self, size: int = -1) -> bytes:
        check_cancelled(self._cancelled, self._what)
        data = self._raw.read(size)
        self._advance(len(data))
        return data

    def write(self, data: bytes) -> int:
        written = self._raw.write(data)
        self._advance(len(data))
        return written if written is not None else len(data)


def describe(exc: BaseException) -> str:
    """``Type: first line of the message`` (pysmb puts whole packet dumps in its messages)."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
