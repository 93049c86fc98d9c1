"""SMB connectors registered by legacy plugins, seen through the operations the ``smb_*`` steps use.

Upstream's SMB steps need only ``list(dir)`` (entries with ``name``, ``is_dir``, ``size``, ``mtime``) to list,
``download(remote, local)`` or ``read_bytes(remote)`` to fetch, ``upload(local, remote)`` and ``delete(remote)``. A
plugin connector written for them keeps working with these steps; files are still written locally as ``<name>.tmp``
then renamed, so a failed fetch leaves no partial file.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aetherflow.api import CancelToken, ConnectorError, Interrupted
from aetherflow.steps._transfer import RemoteFilesConnector


def remote_files(connector: Any) -> RemoteFilesConnector:
    """``connector`` itself when it has the built-in operations, else an adapter over upstream's contract."""
    if callable(getattr(connector, "list_files", None)):
        built_in: RemoteFilesConnector = connector
        return built_in
    return LegacySmb(connector)


class LegacySmb:
    """The step operations on top of a connector with upstream's ``list``/``download``/``upload``/``delete``."""

    def __init__(self, connector: Any) -> None:
        self.connector = connector

    def _method(self, name: str) -> Callable[..., Any]:
        method = getattr(self.connector, name, None)
        if not callable(method):
            raise ConnectorError(f"SMB connector {type(self.connector).__name__} has no '{name}' method")
        return method  # type: ignore[no-any-return]

    def list_files(
        self,
        remote_dir: str,
        *,
        pattern: str = "*",
        recursive: bool = False,
        min_age_seconds: float = 0.0,
        cancelled: CancelToken | None = None,
    ) -> list[dict[str, Any]]:
        """Walk with ``list`` (directories descended when recursive), matching the glob on the name."""
        newest = time.time() - min_age_seconds if min_age_seconds > 0 else None
        listing = self._method("list")
        found: list[dict[str, Any]] = []
        pending = [(remote_dir.rstrip("/\\"), "")]
        while pending:
            if cancelled is not None and cancelled.is_set():
                raise Interrupted(f"SMB listing of {remote_dir} stopped: the step was cancelled")
            current, rel_dir = pending.pop()
            for item in listing(current or "/") or []:
                name = str(_field(item, "name") or "")
                if not name or name in (".", ".."):
                    continue
                rel = f"{rel_dir}/{name}" if rel_dir else name
                child = f"{current}/{name}" if current else name
                if _field(item, "is_dir"):
                    if recursive:
                        pending.append((child, rel))
                    continue
                mtime = _field(item, "mtime")
                if not fnmatch.fnmatchcase(name, pattern) or (newest is not None and (mtime or 0) > newest):
                    continue
                size = _field(item, "size")
                found.append(
                    {
                        "path": str(_field(item, "path") or child),
                        "rel_path": rel,
                        "name": name,
                        "is_dir": False,
                        "size": size,
                        "mtime": int(mtime) if mtime is not None else None,
                        "sha256": _field(item, "sha256"),
                    }
                )
        return sorted(found, key=lambda e: str(e["rel_path"]))

    def download(
        self,
        remote_path: str,
        local_path: Path,
        *,
        cancelled: CancelToken | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """``download(remote, local)`` when the connector has it, else ``read_bytes``; into ``<name>.tmp`` first."""
        tmp = local_path.with_name(local_path.name + ".tmp")
        local_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            if callable(getattr(self.connector, "download", None)):
                self.connector.download(remote_path, str(tmp))
            else:
                tmp.write_bytes(bytes(self._method("read_bytes")(remote_path)))
            os.replace(tmp, local_path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return local_path.stat().st_size

    def upload(
        self,
        local_path: Path,
        remote_path: str,
        *,
        cancelled: CancelToken | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """``upload(local, remote)``: how atomic it is is the plugin's business."""
        self._method("upload")(local_path, remote_path)
        return local_path.stat().st_size

    def delete(self, remote_path: str) -> None:
        """``delete(remote)``."""
        self._method("delete")(remote_path)


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)
