"""An "smb" connector over a local directory: ``put_file`` copies a file into a remote directory."""

from __future__ import annotations

from pathlib import Path

from aetherflow.core.api import ConnectorBase, ConnectorInit, register_connector


@register_connector(kind="smb", driver="smb-local")
class LocalShare(ConnectorBase):
    def __init__(self, init: ConnectorInit):
        super().__init__(init)
        self.base_dir = Path((init.config or {}).get("base_dir", ".")).resolve()

    def put_file(self, local_path: str, remote_dir: str) -> None:
        target = self.base_dir / remote_dir
        target.mkdir(parents=True, exist_ok=True)
        source = Path(local_path)
        (target / source.name).write_bytes(source.read_bytes())
