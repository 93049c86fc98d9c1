"""SFTP over SSH with paramiko (``sftp:paramiko``): host-key verification, key/password auth, fast atomic transfers.

One SSH session per connector, reused for the whole run; each concurrent operation leases its own SFTP channel on
that session (at most ``_MAX_CHANNELS``, below OpenSSH's default ``MaxSessions 10``). A transient failure drops the
session, so the runner's next attempt reconnects. Library failures become ``ConnectorError`` (``transient=True`` for
refused/reset/timed-out connections; permanent for host keys, authentication, missing or forbidden remote paths).

The SSH login is ``sftp_ssh``; the SFTP client, request sizes and pipelined reads are ``sftp_wire``.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import posixpath
import stat
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aetherflow.api import CancelToken, Connector, ConnectorError, ConnectorInit, Interrupted, check_cancelled
from aetherflow.connectors._files import replaced_when_done
from aetherflow.connectors.sftp_files import SftpFileContract, replace_remote
from aetherflow.connectors.sftp_ssh import SshLogin, describe
from aetherflow.connectors.sftp_wire import (
    MAX_PACKET,
    WINDOW_SIZE,
    Progress,
    client_class,
    pipelined_read,
    request_sizes,
)

if TYPE_CHECKING:
    import paramiko


_MAX_CHANNELS = 8


def _entry(path: str, rel_path: str, attrs: Any) -> dict[str, Any]:
    """The spec's remote file entry."""
    return {
        "path": path,
        "rel_path": rel_path,
        "name": posixpath.basename(rel_path),
        "is_dir": False,
        "size": int(attrs.st_size or 0),
        "mtime": int(attrs.st_mtime or 0),
        "sha256": None,
    }


class ParamikoSftpConnector(SftpFileContract, Connector):
    """The ``sftp:paramiko`` connector: list, download, upload (atomic) and delete remote files, plus upstream's
    file-connector contract (``SftpFileContract``)."""

    config_keys = frozenset(
        {"host", "port", "user", "username", "password", "pkey_path", "pkey_passphrase", "known_hosts"}
    )
    options_keys = frozenset({"timeout", "host_key_policy", "cache"})

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        self._login = SshLogin(init)
        login = self._login
        self.host, self.port, self.user = login.host, login.port, login.user
        self.timeout, self.host_key_policy = login.timeout, login.host_key_policy
        self._cond = threading.Condition()
        self._transport: paramiko.Transport | None = None
        self._idle: list[Any] = []
        self._open_channels = 0
        self._max_channels = _MAX_CHANNELS
        self._generation = 0

    # -- public operations ---------------------------------------------------------------------------------------
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
        newest = time.time() - min_age_seconds if min_age_seconds > 0 else None
        found: list[dict[str, Any]] = []
        with self._operation("list", remote_dir) as client:
            pending: deque[str] = deque([""])
            while pending:
                check_cancelled(cancelled, f"SFTP listing of {remote_dir}")
                rel_dir = pending.popleft()
                current = posixpath.join(remote_dir, rel_dir) if rel_dir else remote_dir
                for attrs in client.listdir_attr(current):
                    name = str(attrs.filename)
                    rel = posixpath.join(rel_dir, name) if rel_dir else name
                    full = posixpath.join(remote_dir, rel)
                    mode = attrs.st_mode
                    if mode is not None and stat.S_ISLNK(mode):
                        try:
                            attrs = client.stat(full)  # a symlink is listed as what it points to
                        except OSError:
                            continue  # dangling link
                        if attrs.st_mode is not None and stat.S_ISDIR(attrs.st_mode):
                            continue  # never descend through links: they may loop
                        mode = attrs.st_mode
                    if mode is not None and stat.S_ISDIR(mode):
                        if recursive:
                            pending.append(rel)
                        continue
                    if mode is not None and not stat.S_ISREG(mode):
                        continue
                    if not fnmatch.fnmatchcase(name, pattern):
                        continue
                    if newest is not None and (attrs.st_mtime or 0) > newest:
                        continue  # still being written, probably
                    found.append(_entry(full, rel, attrs))
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
        local = Path(local_path)
        local.parent.mkdir(parents=True, exist_ok=True)
        with (
            self._operation("download", remote_path) as client,
            replaced_when_done(local) as tmp,
            tmp.open("wb") as out,
        ):
            size = pipelined_read(client, remote_path, out, cancelled, progress)
        return size

    def upload(
        self,
        local_path: Path | str,
        remote_path: str,
        *,
        cancelled: CancelToken | None = None,
        progress: Progress | None = None,
    ) -> int:
        """Write ``local_path`` to ``<remote_path>.part``, then rename it to ``remote_path``; return the byte count.

        The final name never holds a partial file: the rename is ``posix-rename@openssh.com`` when the server offers
        it (atomic replace), else remove-then-rename.
        """
        part = remote_path + ".part"
        with self._operation("upload", remote_path) as client:
            sent = 0
            try:
                with Path(local_path).open("rb") as source, client.open(part, "wb") as target:
                    target.set_pipelined(True)
                    target.MAX_REQUEST_SIZE = client.aetherflow_write_size
                    chunk_size = client.aetherflow_write_size
                    while True:
                        check_cancelled(cancelled, f"SFTP upload of {local_path} to {remote_path}")
                        chunk = source.read(chunk_size)
                        if not chunk:
                            break
                        target.write(chunk)
                        sent += len(chunk)
                        if progress is not None:
                            progress(sent)
            except Interrupted:
                with contextlib.suppress(Exception):
                    client.remove(part)  # best effort: the session may still be fine after a stop request
                raise
            replace_remote(client, part, remote_path)
        return sent

    def delete(self, remote_path: str) -> None:
        """Remove one remote file; a missing file is a (permanent) error."""
        with self._operation("delete", remote_path) as client:
            client.remove(remote_path)

    def close(self) -> None:
        """Close every SFTP channel and the SSH session."""
        with self._cond:
            self._drop_session_locked()

    # -- session and channel pool ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _operation(self, what: str, remote_path: str) -> Iterator[Any]:
        """Lease an SFTP channel for one operation and turn library failures into ``ConnectorError``."""
        client, generation = self._acquire()
        healthy = False
        try:
            yield client
            healthy = True
        except (ConnectorError, Interrupted):
            healthy = self._session_alive()
            raise
        except Exception as exc:
            error = self._translate(exc, what, remote_path)
            healthy = not error.transient
            raise error from exc
        finally:
            self._release(client, generation, healthy=healthy)

    def _acquire(self) -> tuple[Any, int]:
        with self._cond:
            while True:
                transport = self._ensure_session_locked()
                generation = self._generation
                if self._idle:
                    return self._idle.pop(), generation
                if self._open_channels < self._max_channels:
                    self._open_channels += 1
                    break
                if not self._cond.wait(timeout=self.timeout * 4):
                    raise ConnectorError(
                        f"SFTP resource '{self.name}': no free SFTP channel to {self.host}:{self.port} "
                        f"after {self.timeout * 4:.0f}s",
                        transient=True,
                    )
        try:
            return self._open_channel(transport), generation
        except BaseException as exc:
            with self._cond:
                if generation == self._generation:
                    self._open_channels -= 1
                    import paramiko

                    if isinstance(exc, paramiko.ChannelException) and self._open_channels > 0:
                        # The server caps sessions per connection (MaxSessions): share the channels already open.
                        self._max_channels = self._open_channels
                        self._cond.notify_all()
                        return self._acquire_after_cap()
                self._cond.notify_all()
            if isinstance(exc, ConnectorError):
                raise
            if isinstance(exc, Exception):
                raise self._translate(exc, "open channel", "") from exc
            raise

    def _acquire_after_cap(self) -> tuple[Any, int]:
        # Called with the condition held; waits for a channel another thread releases.
        while not self._idle:
            if not self._cond.wait(timeout=self.timeout * 4):
                raise ConnectorError(
                    f"SFTP resource '{self.name}': no free SFTP channel to {self.host}:{self.port}", transient=True
                )
        return self._idle.pop(), self._generation

    def _release(self, client: Any, generation: int, *, healthy: bool) -> None:
        with self._cond:
            if generation != self._generation:
                with contextlib.suppress(Exception):
                    client.close()
            elif healthy and not client.sock.closed:
                self._idle.append(client)
            else:
                self._open_channels -= 1
                with contextlib.suppress(Exception):
                    client.close()
                if not healthy:
                    self._drop_session_locked()
            self._cond.notify_all()

    def _session_alive(self) -> bool:
        with self._cond:
            return self._transport is not None and self._transport.is_active()

    def _drop_session_locked(self) -> None:
        for client in self._idle:
            with contextlib.suppress(Exception):
                client.close()
        self._idle.clear()
        self._open_channels = 0
        self._max_channels = _MAX_CHANNELS
        self._generation += 1
        if self._transport is not None:
            with contextlib.suppress(Exception):
                self._transport.close()
        self._transport = None

    def _ensure_session_locked(self) -> paramiko.Transport:
        if self._transport is not None and self._transport.is_active():
            return self._transport
        if self._transport is not None:
            self._drop_session_locked()
        self._transport = self._login.connect()
        return self._transport

    def _open_channel(self, transport: paramiko.Transport) -> Any:
        client = client_class().from_transport(transport, window_size=WINDOW_SIZE, max_packet_size=MAX_PACKET)
        if client is None:
            raise ConnectorError(
                f"SFTP subsystem refused by {self.host}:{self.port} (resource '{self.name}')", transient=True
            )
        client.get_channel().settimeout(self.timeout)
        read_size, write_size = request_sizes(client)
        client.aetherflow_read_size = read_size
        client.aetherflow_write_size = write_size
        return client

    # -- error classification ------------------------------------------------------------------------------------
    def _translate(self, exc: Exception, what: str, remote_path: str) -> ConnectorError:
        import paramiko

        where = f"{self.host}:{self.port}"
        target = f"{remote_path} on {where} (resource '{self.name}')"
        if isinstance(exc, FileNotFoundError) or (isinstance(exc, OSError) and exc.errno == errno.ENOENT):
            return ConnectorError(f"SFTP {what}: remote path not found: {target}")
        if isinstance(exc, PermissionError) or (isinstance(exc, OSError) and exc.errno == errno.EACCES):
            return ConnectorError(f"SFTP {what}: permission denied: {target}")
        if isinstance(exc, TimeoutError):
            return ConnectorError(f"SFTP {what} timed out after {self.timeout:g}s: {target}", transient=True)
        if isinstance(exc, (ConnectionError, EOFError, paramiko.SSHException)) or not self._session_alive():
            return ConnectorError(f"SFTP {what} lost the connection: {target}: {describe(exc)}", transient=True)
        return ConnectorError(f"SFTP {what} failed: {target}: {describe(exc)}")
