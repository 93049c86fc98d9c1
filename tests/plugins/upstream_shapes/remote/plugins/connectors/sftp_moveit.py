"""An SFTP connector over paramiko, loaded through ``require`` and listing ``RemoteFileMeta`` entries."""

from __future__ import annotations

import stat

from aetherflow.core.api import (
    ConnectorBase,
    ConnectorError,
    ConnectorInit,
    RemoteFileMeta,
    register_connector,
    require,
)


@register_connector(kind="sftp", driver="sftp-moveit")
class MoveItSftp(ConnectorBase):
    def __init__(self, init: ConnectorInit):
        super().__init__(init)
        self.cfg = init.config or {}
        self.log = init.ctx.log if init.ctx else None
        self._ssh = None
        self._sftp = None

    def connect(self):
        paramiko = require("paramiko")
        ssh = paramiko.SSHClient()
        ssh.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        try:
            ssh.connect(
                hostname=self.cfg["host"],
                port=int(self.cfg.get("port", 22)),
                username=self.cfg["user"],
                password=self.cfg.get("password"),
                timeout=int(self.options.get("timeout", 30)),
                allow_agent=False,
                look_for_keys=False,
            )
        except Exception as exc:
            raise ConnectorError(f"SFTP connect failed: {exc}") from exc
        self._ssh, self._sftp = ssh, ssh.open_sftp()
        if self.log:
            self.log.info("connected to %s", self.cfg["host"])

    def _client(self):
        if self._sftp is None:
            self.connect()
        return self._sftp

    def listdir(self, remote_dir: str) -> list[RemoteFileMeta]:
        entries = []
        for attrs in self._client().listdir_attr(remote_dir):
            is_dir = stat.S_ISDIR(attrs.st_mode)
            entries.append(
                RemoteFileMeta(
                    path=f"{remote_dir.rstrip('/')}/{attrs.filename}",
                    name=attrs.filename,
                    is_dir=is_dir,
                    size=None if is_dir else attrs.st_size,
                    mtime=int(attrs.st_mtime) if attrs.st_mtime else None,
                )
            )
        return entries

    def get(self, remote_path: str, local_path: str) -> None:
        self._client().get(remote_path, local_path)

    def delete(self, remote_path: str) -> None:
        try:
            self._client().remove(remote_path)
        except FileNotFoundError:
            return

    def close(self):
        if self._sftp is not None:
            self._sftp.close()
        if self._ssh is not None:
            self._ssh.close()
        self._sftp = self._ssh = None
