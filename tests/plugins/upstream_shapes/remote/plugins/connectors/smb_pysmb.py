"""An SMB connector over pysmb, whose class comes from ``require("module:attribute")``."""

from __future__ import annotations

import posixpath

from aetherflow.core.api import ConnectorBase, ConnectorError, ConnectorInit, register_connector, require


@register_connector(kind="smb", driver="smb-pysmb")
class PySmbShare(ConnectorBase):
    def __init__(self, init: ConnectorInit):
        super().__init__(init)
        self.cfg = init.config or {}
        self._conn = None

    def connect(self):
        smb_connection = require("smb.SMBConnection:SMBConnection")
        conn = smb_connection(
            self.cfg["user"],
            self.cfg["password"],
            "aetherflow-test",
            self.cfg.get("server_name", "SERVER"),
            use_ntlm_v2=True,
            is_direct_tcp=True,
        )
        try:
            ok = conn.connect(self.cfg["server"], int(self.cfg.get("port", 445)), timeout=10)
        except Exception as exc:
            raise ConnectorError(f"SMB connect failed: {exc}") from exc
        if not ok:
            raise ConnectorError("SMB authentication failed")
        self._conn = conn

    def put_file(self, local_path: str, remote_path: str):
        if self._conn is None:
            self.connect()
        share = self.cfg["share"]
        with open(local_path, "rb") as handle:
            self._conn.storeFile(share, remote_path, handle)
        return posixpath.basename(remote_path)

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None
