"""A mail connector sending plain text with smtplib (via ``require_attr``), logging through ``init.ctx.log``."""

from __future__ import annotations

from email.message import EmailMessage

from aetherflow.core.api import ConnectorBase, ConnectorError, ConnectorInit, register_connector, require_attr


@register_connector(kind="mail", driver="mail-dummy")
class DummyMail(ConnectorBase):
    def __init__(self, init: ConnectorInit):
        super().__init__(init)
        self.cfg = init.config or {}
        self.log = init.ctx.log if init.ctx else None

    def send_plaintext(self, *, to, subject: str, body: str, from_addr: str | None = None):
        smtp = require_attr("smtplib", "SMTP")
        message = EmailMessage()
        message["From"] = from_addr or self.cfg.get("from_addr", "demo@localhost")
        message["To"] = ", ".join(to) if isinstance(to, list) else to
        message["Subject"] = subject
        message.set_content(body)
        try:
            with smtp(self.cfg["host"], int(self.cfg.get("port", 25)), timeout=10) as client:
                client.send_message(message)
        except Exception as exc:
            raise ConnectorError(f"SMTP send failed: {exc}") from exc
        if self.log:
            self.log.info("mail sent: %s", subject)
