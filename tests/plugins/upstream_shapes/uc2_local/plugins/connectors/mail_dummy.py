"""A mail connector that keeps what it was asked to send (it offers ``send`` only)."""

from __future__ import annotations

from aetherflow.core.api import ConnectorBase, ConnectorInit, register_connector


@register_connector(kind="mail", driver="mail-dummy")
class KeepMail(ConnectorBase):
    def __init__(self, init: ConnectorInit):
        super().__init__(init)
        self.sent = []

    def send(self, to, subject, body, **extra):
        self.sent.append({"to": to, "subject": subject, "body": body, **extra})
