"""SMB with pysmb (``smb:pysmb``): one direct-TCP connection per connector, NTLMv2.

pysmb starts with an SMB1 negotiate and moves to SMB2 when the server offers it, so the server must accept the SMB1
negotiate request (Samba: ``server min protocol = NT1``); use ``smb:smbclient`` for SMB2/3-only servers. pysmb's
delete takes a wildcard pattern and does not report a missing file, so deletes check the entry first and names with
wildcard characters never reach the server (the path rules refuse them).
"""

from __future__ import annotations

import contextlib
import errno
from typing import IO, Any

from aetherflow.api import ConnectorError, ConnectorInit
from aetherflow.connectors._smb_paths import SmbPath
from aetherflow.connectors.smb import SmbConnectorBase, SmbStat, describe

#: NTSTATUS codes of a missing path, and of a refused access
_NOT_FOUND = frozenset({0xC0000034, 0xC000003A, 0xC0000033, 0xC0000225, 0xC00000CC})
_DENIED = frozenset({0xC0000022})


class PysmbConnector(SmbConnectorBase):
    """The ``smb:pysmb`` connector (package pysmb)."""

    driver_label = "pysmb"
    library = "pysmb"
    config_keys = SmbConnectorBase.config_keys | {"server_name", "client_name"}

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        self.server_name = str(init.config.get("server_name") or self.server)
        self.client_name = str(init.config.get("client_name") or "aetherflow")
        self._conn: Any = None

    def _path(self, path: SmbPath) -> str:
        return "/" + path.inner("/")

    # -- session -----------------------------------------------------------------------------------------------------
    def _connect(self) -> None:
        if self._conn is not None:
            return
        try:
            from smb.SMBConnection import SMBConnection
        except ImportError as exc:
            raise self._missing_library(exc) from None
        conn = SMBConnection(
            self.username,
            self._password,
            self.client_name,
            self.server_name,
            domain=self.domain,
            use_ntlm_v2=True,
            is_direct_tcp=True,
        )
        where = self._where()
        try:
            accepted = conn.connect(self.server, self.port, timeout=self.timeout)
        except Exception as exc:
            _close_quietly(conn)
            raise ConnectorError(
                f"SMB server {where} unreachable (resource '{self.name}'): {describe(exc)}", transient=True
            ) from exc
        if not accepted:
            _close_quietly(conn)
            raise ConnectorError(
                f"SMB authentication failed for user '{self.username}' at {where} (resource '{self.name}'): "
                "check config.username and config.password"
            )
        self._conn = conn

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            _close_quietly(conn)

    # -- primitives --------------------------------------------------------------------------------------------------
    def _scandir(self, path: SmbPath) -> list[SmbStat]:
        entries = self._conn.listPath(path.share, self._path(path), timeout=self.timeout)
        return [_stat_of(e) for e in entries if e.filename not in (".", "..")]

    def _stat(self, path: SmbPath) -> SmbStat:
        if not path.parts:
            self._conn.listPath(path.share, "/", pattern="", timeout=self.timeout)  # the share exists
            return SmbStat(name="", is_dir=True, size=0, mtime=0.0)
        try:
            found = self._conn.getAttributes(path.share, self._path(path), timeout=self.timeout)
        except Exception as exc:
            if _status(exc) in _NOT_FOUND:
                raise FileNotFoundError(errno.ENOENT, "not found", str(path)) from None
            raise
        return _stat_of(found)

    def _read_into(self, path: SmbPath, sink: IO[bytes]) -> None:
        self._conn.retrieveFile(path.share, self._path(path), sink, timeout=self.timeout)

    def _write_from(self, path: SmbPath, source: IO[bytes]) -> None:
        self._conn.storeFile(path.share, self._path(path), source, timeout=self.timeout)

    def _replace(self, source: SmbPath, target: SmbPath) -> None:
        # SMB1/pysmb rename never replaces: remove the old file first (a reader may briefly see no file,
        # but never a partial one).
        try:
            existing = self._stat(target)
        except FileNotFoundError:
            existing = None
        if existing is not None:
            if existing.is_dir:
                raise ConnectorError(f"SMB upload target {target} is a directory")
            self._remove(target)
        self._conn.rename(source.share, self._path(source), self._path(target), timeout=self.timeout)

    def _remove(self, path: SmbPath) -> None:
        self._stat(path)  # pysmb reports nothing for a missing file
        self._conn.deleteFiles(path.share, self._path(path), timeout=self.timeout)

    def _rmdir(self, path: SmbPath) -> None:
        self._conn.deleteDirectory(path.share, self._path(path), timeout=self.timeout)

    def _mkdir(self, path: SmbPath) -> None:
        self._conn.createDirectory(path.share, self._path(path), timeout=self.timeout)

    # -- errors ------------------------------------------------------------------------------------------------------
    def _classify(self, exc: Exception, what: str, target: str) -> ConnectorError:
        status = _status(exc)
        name = type(exc).__name__
        if status in _NOT_FOUND:
            return ConnectorError(f"SMB {what}: remote path not found: {target}")
        if status in _DENIED:
            return ConnectorError(f"SMB {what}: permission denied: {target}")
        message = getattr(exc, "message", None)
        detail = f"{name}: {message}" if isinstance(message, str) else describe(exc)
        lost = isinstance(exc, (ConnectionError, TimeoutError, EOFError)) or (
            isinstance(exc, OSError) and exc.errno in (errno.ENOTCONN, errno.EHOSTUNREACH, errno.ENETUNREACH)
        )
        if lost or name in ("NotConnectedError", "NotReadyError", "SMBTimeout"):
            return ConnectorError(f"SMB {what} lost the connection: {target}: {detail}", transient=True)
        return ConnectorError(f"SMB {what} failed: {target}: {detail}")


def _stat_of(entry: Any) -> SmbStat:
    return SmbStat(
        name=str(entry.filename),
        is_dir=bool(entry.isDirectory),
        size=int(entry.file_size or 0),
        mtime=float(entry.last_write_time or 0),
    )


def _status(exc: BaseException) -> int | None:
    """The NTSTATUS of the last reply an ``OperationFailure`` carries."""
    messages = getattr(exc, "smb_messages", None)
    if not messages:
        return None
    status = getattr(messages[-1], "status", None)
    return int(status) if isinstance(status, int) else None


def _close_quietly(conn: Any) -> None:
    with contextlib.suppress(Exception):  # closing a dead connection must never fail the run
        conn.close()
