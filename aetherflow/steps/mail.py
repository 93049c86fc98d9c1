"""``mail_send`` (kind ``mail``): build a text or HTML message with attachments and send it through the connector.

Every recipient and attachment is checked before connecting, so a typo fails the step without a half-sent mail.
Bcc recipients are on the envelope only, never in a header.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pydantic import Field, field_validator

from aetherflow.api import Inputs, Step, StepContext, StepResult
from aetherflow.steps._transfer import input_error, single_input_file

DEFAULT_MAX_ATTACHMENTS_BYTES = 26_214_400


class MailConnectorLike(Protocol):
    """What ``mail_send`` uses of a ``mail`` connector."""

    from_addr: str | None

    def send(
        self, message: EmailMessage, *, from_addr: str, recipients: Sequence[str]
    ) -> dict[str, tuple[int, str]]: ...


def _split(value: str | list[str] | None) -> list[str]:
    """Addresses from a string (comma-separated) or a list; blanks dropped."""
    if value is None:
        return []
    parts = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    return [p.strip() for p in parts if p.strip()]


def _address(text: str) -> str:
    """The bare address of ``text`` (``Name <a@b>`` or ``a@b``); invalid ones raise the spec's error."""
    _, addr = parseaddr(text)
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain or "@" in local or any(c.isspace() for c in addr):
        raise input_error(f"mail_send invalid recipient address: {text}")
    return addr


class MailSendInputs(Inputs):
    """Inputs of ``mail_send``."""

    resource: str
    to: str | list[str]
    subject: str
    body: str
    html: bool = False
    text: str | None = None
    cc: str | list[str] | None = None
    bcc: str | list[str] | None = None
    from_addr: str | None = None
    attachments: list[str] = Field(default_factory=list)
    max_attachments_bytes: int = Field(DEFAULT_MAX_ATTACHMENTS_BYTES, ge=0)

    @field_validator("attachments", mode="before")
    @classmethod
    def _one_attachment(cls, value: Any) -> Any:
        if value is None:
            return []
        return [value] if isinstance(value, str) else value


class MailSend(Step[MailSendInputs]):
    """Send one mail; output ``{sent: true, to, subject, html}``."""

    inputs_model = MailSendInputs
    result_keys = frozenset({"sent", "to", "subject", "html"})
    resource_kind: ClassVar[str | None] = "mail"

    def run(self, inputs: MailSendInputs, ctx: StepContext) -> StepResult:
        to, cc, bcc = _split(inputs.to), _split(inputs.cc), _split(inputs.bcc)
        envelope = [_address(a) for a in (*to, *cc, *bcc)]
        if not envelope:
            raise input_error("mail_send needs at least one recipient")
        attachments = self._attachments(inputs, ctx)

        mailer: MailConnectorLike = ctx.connector(inputs.resource, kind="mail")
        sender = inputs.from_addr or mailer.from_addr
        if not sender:
            raise input_error(
                f"mail_send needs a sender: set inputs.from_addr or config.from_addr of resource '{inputs.resource}'"
            )
        sender_addr = parseaddr(sender)[1]
        if "@" not in sender_addr:
            raise input_error(f"mail_send invalid sender address: {sender}")

        message = EmailMessage()
        message["From"] = sender
        if to:
            message["To"] = ", ".join(to)
        if cc:
            message["Cc"] = ", ".join(cc)
        message["Subject"] = inputs.subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = make_msgid(domain=sender_addr.rpartition("@")[2])
        if inputs.html:
            if inputs.text is not None:
                message.set_content(inputs.text)
                message.add_alternative(inputs.body, subtype="html")
            else:
                message.set_content(inputs.body, subtype="html")
        else:
            message.set_content(inputs.body)
        for path in attachments:
            ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            maintype, _, subtype = ctype.partition("/")
            message.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name)

        refused = mailer.send(message, from_addr=sender_addr, recipients=envelope)
        if refused:
            ctx.emit(
                "mail_recipients_refused",
                level="WARNING",
                resource=inputs.resource,
                refused={addr: f"{code} {text}" for addr, (code, text) in refused.items()},
            )
        ctx.emit(
            "mail_sent",
            resource=inputs.resource,
            recipients=len(envelope) - len(refused),
            attachments=len(attachments),
        )
        return StepResult.success(sent=True, to=to, subject=inputs.subject, html=inputs.html)

    @staticmethod
    def _attachments(inputs: MailSendInputs, ctx: StepContext) -> list[Path]:
        paths: list[Path] = []
        total = 0
        for raw in inputs.attachments:
            path = single_input_file(ctx, "mail_send", "attachment", raw)
            total += path.stat().st_size
            paths.append(path)
        cap = inputs.max_attachments_bytes
        if total > cap:
            raise input_error(f"mail_send attachments total {total} bytes exceeds max_attachments_bytes={cap}")
        return paths
