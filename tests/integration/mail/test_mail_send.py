"""``mail_send`` against real aiosmtpd servers: STARTTLS + AUTH, implicit TLS, attachments, Bcc, failures."""

from __future__ import annotations

import os
import socket

import pytest

from aetherflow.errors import ConnectorError
from tests.servers.smtp import SmtpServers
from tests.support.context import run_step


def _send(ctx, **inputs):
    base = {"resource": "mailer", "to": "ops@example.test", "subject": "Nightly export", "body": "all good"}
    return run_step(ctx, "mail_send", {**base, **inputs})


def test_plain_text_mail_is_delivered_over_starttls_after_login(smtp_server: SmtpServers, mail_step_env) -> None:
    ctx, events = mail_step_env()

    result = _send(ctx, to="ops@example.test, oncall@example.test")

    assert result.output == {
        "sent": True,
        "to": ["ops@example.test", "oncall@example.test"],
        "subject": "Nightly export",
        "html": False,
    }
    [received] = smtp_server.inbox.messages
    assert smtp_server.inbox.logins == [smtp_server.user]
    assert received.mail_from == "runner@example.test"
    assert received.rcpt_tos == ["ops@example.test", "oncall@example.test"]
    assert received.message["Subject"] == "Nightly export"
    assert received.message["From"] == "AetherFlow <runner@example.test>"
    assert received.message.get_content().strip() == "all good"
    assert events.named("mail_sent")[0]["recipients"] == 2


def test_bcc_recipients_get_the_mail_but_no_header(smtp_server: SmtpServers, mail_step_env) -> None:
    ctx, _ = mail_step_env()

    _send(ctx, cc=["lead@example.test"], bcc="Audit <audit@example.test>")

    [received] = smtp_server.inbox.messages
    assert received.rcpt_tos == ["ops@example.test", "lead@example.test", "audit@example.test"]
    assert received.message["Cc"] == "lead@example.test"
    assert received.message["Bcc"] is None
    assert b"audit@example.test" not in received.raw


def test_html_mail_carries_its_plain_text_alternative(smtp_server: SmtpServers, mail_step_env) -> None:
    ctx, _ = mail_step_env()

    _send(ctx, html=True, body="<p>all <b>good</b></p>", text="all good")

    message = smtp_server.inbox.messages[0].message
    assert message.get_content_type() == "multipart/alternative"
    assert message.get_body(("plain",)).get_content().strip() == "all good"
    assert message.get_body(("html",)).get_content().strip() == "<p>all <b>good</b></p>"


def test_attachments_arrive_byte_for_byte_with_their_names_and_types(smtp_server: SmtpServers, mail_step_env) -> None:
    ctx, _ = mail_step_env()
    report = ctx.artifacts_dir / "report.csv"
    report.write_text("id,name\n1,ä\n", encoding="utf-8")
    blob = ctx.artifacts_dir / "dump.bin"
    blob.write_bytes(os.urandom(200_000))

    _send(ctx, html=True, body="<p>see attached</p>", text="see attached", attachments=["report.csv", str(blob)])

    message = smtp_server.inbox.messages[0].message
    parts = {part.get_filename(): part for part in message.iter_attachments()}
    assert sorted(parts) == ["dump.bin", "report.csv"]
    assert parts["report.csv"].get_content_type() == "text/csv"
    assert parts["report.csv"].get_payload(decode=True) == report.read_bytes()
    assert parts["dump.bin"].get_content_type() == "application/octet-stream"
    assert parts["dump.bin"].get_payload(decode=True) == blob.read_bytes()
    assert message.get_body(("plain",)).get_content().strip() == "see attached"


def test_implicit_tls_port_delivers_with_login(smtp_server: SmtpServers, mail_step_env) -> None:
    ctx, _ = mail_step_env(config={"port": smtp_server.ssl_port, "starttls": False, "use_ssl": True})

    _send(ctx)

    assert len(smtp_server.inbox.messages) == 1
    assert smtp_server.inbox.logins == [smtp_server.user]


def test_plain_server_without_auth_accepts_mail(smtp_server: SmtpServers, mail_step_env) -> None:
    ctx, _ = mail_step_env(
        config={"port": smtp_server.plain_port, "starttls": False, "username": None, "password": None}
    )

    _send(ctx, from_addr="robot@example.test")

    assert smtp_server.inbox.messages[0].mail_from == "robot@example.test"


def test_wrong_password_is_a_clear_permanent_error_without_the_password(
    smtp_server: SmtpServers, mail_step_env
) -> None:
    ctx, _ = mail_step_env(config={"password": "Not-The-Password-42"})

    with pytest.raises(ConnectorError) as caught:
        _send(ctx)

    message = str(caught.value)
    assert message.startswith(f"SMTP login refused for user 'runner' at 127.0.0.1:{smtp_server.starttls_port}")
    assert "535" in message
    assert "Not-The-Password-42" not in message
    assert caught.value.transient is False
    assert smtp_server.inbox.messages == []


def test_untrusted_server_certificate_is_refused_permanently(smtp_server: SmtpServers, mail_step_env) -> None:
    ctx, _ = mail_step_env(options={"verify_ssl": True})

    with pytest.raises(ConnectorError, match="TLS certificate not trusted") as caught:
        _send(ctx)

    assert caught.value.transient is False


def test_temporary_recipient_refusal_is_transient(smtp_server: SmtpServers, mail_step_env) -> None:
    ctx, _ = mail_step_env()

    with pytest.raises(ConnectorError, match=r"refused every recipient.*451") as caught:
        _send(ctx, to="tempfail@example.test")

    assert caught.value.transient is True


def test_permanent_recipient_refusal_is_permanent(smtp_server: SmtpServers, mail_step_env) -> None:
    ctx, _ = mail_step_env()

    with pytest.raises(ConnectorError, match="550") as caught:
        _send(ctx, to="reject@example.test")

    assert caught.value.transient is False


def test_partly_refused_recipients_are_reported_as_a_warning(smtp_server: SmtpServers, mail_step_env) -> None:
    ctx, events = mail_step_env()

    _send(ctx, to=["ops@example.test", "reject@example.test"])

    assert smtp_server.inbox.messages[0].rcpt_tos == ["ops@example.test"]
    [warning] = events.named("mail_recipients_refused")
    assert warning["level"] == "WARNING"
    assert list(warning["refused"]) == ["reject@example.test"]


def test_refused_connection_is_transient(mail_step_env) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    ctx, _ = mail_step_env(config={"port": closed_port})

    with pytest.raises(ConnectorError, match=f"127.0.0.1:{closed_port} unreachable") as caught:
        _send(ctx)

    assert caught.value.transient is True


@pytest.mark.parametrize(
    ("field", "value", "bad"),
    [
        ("to", "ops@example.test, not an address", "not an address"),
        ("cc", ["@example.test"], "@example.test"),
        ("bcc", "ops@", "ops@"),
        ("to", "a@b@example.test", "a@b@example.test"),
    ],
)
def test_invalid_recipient_fails_before_connecting(
    field: str, value, bad: str, smtp_server: SmtpServers, mail_step_env
) -> None:
    ctx, _ = mail_step_env(config={"port": 1})  # nothing listens there: validation must come first

    with pytest.raises(ValueError) as caught:
        _send(ctx, **{field: value})

    assert str(caught.value) == f"mail_send invalid recipient address: {bad}"


def test_no_recipient_at_all_is_an_error(mail_step_env) -> None:
    ctx, _ = mail_step_env(config={"port": 1})

    with pytest.raises(ValueError, match=r"^mail_send needs at least one recipient$"):
        _send(ctx, to=" , ")


def test_missing_attachment_is_an_error(mail_step_env) -> None:
    ctx, _ = mail_step_env(config={"port": 1})

    with pytest.raises(ValueError, match=r"^mail_send attachment not found: .*/nope\.csv$"):
        _send(ctx, attachments=["nope.csv"])


def test_attachments_over_the_size_cap_are_refused(mail_step_env) -> None:
    ctx, _ = mail_step_env(config={"port": 1})
    (ctx.artifacts_dir / "a.bin").write_bytes(b"x" * 600)
    (ctx.artifacts_dir / "b.bin").write_bytes(b"y" * 500)

    with pytest.raises(ValueError) as caught:
        _send(ctx, attachments=["a.bin", "b.bin"], max_attachments_bytes=1000)

    assert str(caught.value) == "mail_send attachments total 1100 bytes exceeds max_attachments_bytes=1000"


def test_attachment_outside_the_sandbox_is_refused(mail_step_env) -> None:
    ctx, _ = mail_step_env(config={"port": 1})

    with pytest.raises(ValueError, match=r"^Path not under allowed roots: /etc/hostname"):
        _send(ctx, attachments=["/etc/hostname"])


def test_retry_option_becomes_the_default_step_retry_policy(mail_step_env) -> None:
    ctx, _ = mail_step_env(options={"retry": {"max_attempts": 3}})

    policy = ctx.connector("mailer").default_retry()

    assert (policy.max_attempts, policy.backoff_seconds, policy.factor, policy.max_delay_seconds) == (3, 1.0, 2.0, 5.0)
    assert policy.transient_only is True
