"""An "sftp" connector over a local directory: ``listdir`` returns names, ``get`` copies one file."""

from __future__ import annotations

from pathlib import Path

from aetherflow.core.api import ConnectorBase, ConnectorError, ConnectorInit, register_connector


@register_connector(kind="sftp", driver="sftp-local")
class LocalSftp(ConnectorBase):
    def __init__(self, init: ConnectorInit):
        super().__init__(init)
        self.base_dir = Path((init.config or {}).get("base_dir", ".")).resolve()

    def listdir(self, remote_dir: str) -> list[str]:
        directory = self.base_dir / remote_dir
        return sorted(p.name for p in directory.iterdir() if p.is_file()) if directory.is_dir() else []

    def get(self, remote_path: str, local_path: str) -> None:
        source = self.base_dir / remote_path
        if not source.is_file():
            raise ConnectorError(f"not found on the local sftp stand-in: {remote_path}")
        Path(local_path).write_bytes(source.read_bytes())
