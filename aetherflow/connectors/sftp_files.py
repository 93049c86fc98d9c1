"""The rest of upstream's file-connector contract for ``sftp:paramiko``: whole-file reads and writes, one-level
listing, directory creation and recursive deletion (legacy plugins and upstream-style bundle code call these).

A mixin over the connector's channel pool: every method leases one SFTP channel through ``_operation``, which turns
library failures into ``ConnectorError`` exactly as for the transfer methods. Writes are atomic like ``upload``
(``<path>.part`` renamed over the final name).
"""

from __future__ import annotations

import contextlib
import posixpath
import stat
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from typing import Any

from aetherflow.api import ConnectorError, RemoteFileMeta

__all__ = ["SftpFileContract", "replace_remote"]


def replace_remote(client: Any, part: str, remote_path: str) -> None:
    """Rename ``part`` over ``remote_path``: atomic with ``posix-rename@openssh.com``, else remove-then-rename."""
    if "posix-rename@openssh.com" in client.aetherflow_extensions:
        client.posix_rename(part, remote_path)
        return
    with contextlib.suppress(FileNotFoundError):
        client.remove(remote_path)
    client.rename(part, remote_path)


def _is_dir(attrs: Any) -> bool:
    return attrs.st_mode is not None and stat.S_ISDIR(attrs.st_mode)


class SftpFileContract(ABC):
    """``list``, ``read_bytes``, ``write_bytes``, ``mkdir``, ``mkdir_recursive``, ``delete_recursive``."""

    @abstractmethod
    def _operation(self, what: str, remote_path: str) -> AbstractContextManager[Any]:
        """An SFTP client for one operation on ``remote_path`` (the connector's own session handling)."""

    def list(self, remote_dir: str) -> list[RemoteFileMeta]:
        """Files and directories directly in ``remote_dir`` (a link as what it points to), sorted by name."""
        out: list[RemoteFileMeta] = []
        with self._operation("list", remote_dir) as client:
            for attrs in client.listdir_attr(remote_dir):
                name = str(attrs.filename)
                path = posixpath.join(remote_dir, name)
                if attrs.st_mode is not None and stat.S_ISLNK(attrs.st_mode):
                    with contextlib.suppress(OSError):  # a dangling link is listed as itself
                        attrs = client.stat(path)
                is_dir = _is_dir(attrs)
                out.append(
                    RemoteFileMeta(
                        path=path,
                        name=name,
                        is_dir=is_dir,
                        size=None if is_dir else int(attrs.st_size or 0),
                        mtime=int(attrs.st_mtime) if attrs.st_mtime else None,
                    )
                )
        return sorted(out, key=lambda m: str(m.name))

    def read_bytes(self, remote_path: str) -> bytes:
        """The whole remote file."""
        with self._operation("read", remote_path) as client, client.open(remote_path, "rb") as source:
            data: bytes = source.read()
        return data

    def write_bytes(self, remote_path: str, data: bytes) -> None:
        """``data`` as the whole remote file, parents created; readers never see a partial file."""
        part = remote_path + ".part"
        with self._operation("write", remote_path) as client:
            _makedirs(client, posixpath.dirname(remote_path))
            with client.open(part, "wb") as target:
                target.set_pipelined(True)
                target.write(bytes(data))
            replace_remote(client, part, remote_path)

    def mkdir(self, remote_dir: str) -> None:
        """Create one directory (its parent must exist; an existing path is an error)."""
        with self._operation("mkdir", remote_dir) as client:
            client.mkdir(remote_dir)

    def mkdir_recursive(self, remote_dir: str) -> None:
        """Create ``remote_dir`` and its missing parents; an existing directory is fine."""
        with self._operation("mkdir", remote_dir) as client:
            _makedirs(client, remote_dir)

    def delete_recursive(self, remote_path: str) -> None:
        """Delete a file, or a directory with everything in it (links are removed, never followed)."""
        if posixpath.normpath(remote_path) in ("/", ".", ""):
            raise ConnectorError(f"SFTP delete of '{remote_path}': refusing to delete a root directory")
        with self._operation("delete", remote_path) as client:
            _delete_tree(client, remote_path)


def _makedirs(client: Any, remote_dir: str) -> None:
    missing: list[str] = []
    current = posixpath.normpath(remote_dir) if remote_dir else ""
    while current not in ("", "/", "."):
        try:
            attrs = client.stat(current)
        except FileNotFoundError:
            missing.append(current)
            current = posixpath.dirname(current)
            continue
        if not _is_dir(attrs):
            raise ConnectorError(f"SFTP path {current} exists and is not a directory")
        break
    for path in reversed(missing):
        try:
            client.mkdir(path)
        except OSError:
            if not _is_dir(client.stat(path)):  # created meanwhile by someone else is fine
                raise


def _delete_tree(client: Any, remote_path: str) -> None:
    attrs = client.lstat(remote_path)
    if not _is_dir(attrs):
        client.remove(remote_path)
        return
    for child in client.listdir_attr(remote_path):
        _delete_tree(client, posixpath.join(remote_path, str(child.filename)))
    client.rmdir(remote_path)
