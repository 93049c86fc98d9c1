"""SMB 2/3 with smbprotocol's ``smbclient`` API (``smb:smbclient``).

Sessions live in a connection cache of this connector's own (never smbclient's process-wide one), so two resources
with different credentials for one server never share a session, and ``close`` ends exactly this connector's.
"""

from __future__ import annotations

import contextlib
import errno
import shutil
from typing import IO, Any

from aetherflow.api import ConnectorError, ConnectorInit
from aetherflow.connectors._smb_paths import SmbPath
from aetherflow.connectors.smb import CHUNK, SmbConnectorBase, SmbStat, describe

#: NTSTATUS codes meaning the credentials were refused
_AUTH_STATUSES = frozenset(
    {
        0xC000006D,  # STATUS_LOGON_FAILURE
        0xC000006A,  # STATUS_WRONG_PASSWORD
        0xC0000064,  # STATUS_NO_SUCH_USER
        0xC000006E,  # STATUS_ACCOUNT_RESTRICTION
        0xC0000071,  # STATUS_PASSWORD_EXPIRED
        0xC0000072,  # STATUS_ACCOUNT_DISABLED
        0xC0000234,  # STATUS_ACCOUNT_LOCKED_OUT
    }
)
_DIRECTORY_ATTRIBUTE = 0x10


class SmbclientConnector(SmbConnectorBase):
    """The ``smb:smbclient`` connector (package smbprotocol)."""

    driver_label = "smbclient"
    library = "smbprotocol"

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        self._cache: dict[str, Any] = {}
        self._connected = False

    def _kwargs(self) -> dict[str, Any]:
        user = f"{self.domain}\\{self.username}" if self.domain and self.username else self.username
        return {
            "username": user or None,
            "password": self._password or None,
            "port": self.port,
            "connection_timeout": self.timeout,
            "connection_cache": self._cache,
        }

    def _unc(self, path: SmbPath) -> str:
        inner = path.inner("\\")
        return f"\\\\{self.server}\\{path.share}" + (f"\\{inner}" if inner else "")

    # -- session ---------------------------------------------------------------------------------------------------
    def _connect(self) -> None:
        if self._connected:
            return
        try:
            import smbclient
        except ImportError as exc:
            raise self._missing_library(exc) from None
        try:
            smbclient.register_session(self.server, **self._kwargs())
        except Exception as exc:
            self._disconnect()
            raise self._connect_error(exc) from exc
        self._connected = True

    def _connect_error(self, exc: Exception) -> ConnectorError:
        where = self._where()
        if _status_of(exc) in _AUTH_STATUSES or type(exc).__name__ in ("SMBAuthenticationError", "LogonFailure"):
            return ConnectorError(
                f"SMB authentication failed for user '{self.username}' at {where} (resource '{self.name}'): "
                "check config.username and config.password"
            )
        return ConnectorError(
            f"SMB server {where} unreachable (resource '{self.name}'): {describe(exc)}", transient=True
        )

    def _disconnect(self) -> None:
        self._connected = False
        if not self._cache:
            return
        with contextlib.suppress(Exception):  # closing a dead session must never fail the run
            from smbclient import reset_connection_cache

            reset_connection_cache(fail_on_error=False, connection_cache=self._cache)
        self._cache.clear()

    # -- primitives --------------------------------------------------------------------------------------------------
    def _scandir(self, path: SmbPath) -> list[SmbStat]:
        import smbclient

        found: list[SmbStat] = []
        for entry in smbclient.scandir(self._unc(path), **self._kwargs()):
            if entry.name in (".", ".."):
                continue
            info = entry.smb_info
            found.append(
                SmbStat(
                    name=entry.name,
                    is_dir=bool(info.file_attributes & _DIRECTORY_ATTRIBUTE),
                    size=int(info.end_of_file),
                    mtime=info.last_write_time.timestamp(),
                )
            )
        return found

    def _stat(self, path: SmbPath) -> SmbStat:
        import smbclient

        try:
            result = smbclient.stat(self._unc(path), **self._kwargs())
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                raise FileNotFoundError(errno.ENOENT, "not found", str(path)) from None
            raise
        import stat as stat_module

        return SmbStat(
            name=path.name,
            is_dir=stat_module.S_ISDIR(result.st_mode),
            size=int(result.st_size),
            mtime=float(result.st_mtime),
        )

    def _read_into(self, path: SmbPath, sink: IO[bytes]) -> None:
        import smbclient

        with smbclient.open_file(self._unc(path), mode="rb", share_access="r", **self._kwargs()) as source:
            shutil.copyfileobj(source, sink, CHUNK)

    def _write_from(self, path: SmbPath, source: IO[bytes]) -> None:
        import smbclient

        with smbclient.open_file(self._unc(path), mode="wb", **self._kwargs()) as target:
            shutil.copyfileobj(source, target, CHUNK)

    def _replace(self, source: SmbPath, target: SmbPath) -> None:
        import smbclient

        try:
            smbclient.replace(self._unc(source), self._unc(target), **self._kwargs())
        except OSError as exc:
            # smbclient opens the old file for FILE_EXECUTE before renaming over it (to resolve DFS paths); Samba
            # refuses that for a file without the execute bit. Removing it first still never exposes a partial file.
            if _status_of(exc) != 0xC0000022:
                raise
            smbclient.remove(self._unc(target), **self._kwargs())
            smbclient.rename(self._unc(source), self._unc(target), **self._kwargs())

    def _remove(self, path: SmbPath) -> None:
        import smbclient

        smbclient.remove(self._unc(path), **self._kwargs())

    def _rmdir(self, path: SmbPath) -> None:
        import smbclient

        smbclient.rmdir(self._unc(path), **self._kwargs())

    def _mkdir(self, path: SmbPath) -> None:
        import smbclient

        smbclient.mkdir(self._unc(path), **self._kwargs())

    # -- errors ------------------------------------------------------------------------------------------------------
    def _classify(self, exc: Exception, what: str, target: str) -> ConnectorError:
        code = getattr(exc, "errno", None) if isinstance(exc, OSError) else None
        status = _status_of(exc)
        if code == errno.ENOENT or status in (0xC0000034, 0xC000003A, 0xC0000225, 0xC00000CC):
            return ConnectorError(f"SMB {what}: remote path not found: {target}")
        if code == errno.EACCES or status == 0xC0000022:
            return ConnectorError(f"SMB {what}: permission denied: {target}")
        if status in _AUTH_STATUSES:
            return ConnectorError(f"SMB {what}: authentication refused: {target}")
        transient = isinstance(exc, (ConnectionError, TimeoutError, EOFError)) or type(exc).__name__ in (
            "SMBConnectionClosed",
            "IOTimeout",
        )
        if transient or (isinstance(exc, OSError) and code is None and status is None):
            return ConnectorError(f"SMB {what} lost the connection: {target}: {describe(exc)}", transient=True)
        return ConnectorError(f"SMB {what} failed: {target}: {describe(exc)}")


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "ntstatus", None) or getattr(exc, "status", None)
    return int(status) if isinstance(status, int) else None
