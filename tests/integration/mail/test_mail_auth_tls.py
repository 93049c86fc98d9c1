"""SMTP AUTH only over TLS: a password never crosses the network in cleartext unless the resource says so."""

from __future__ import annotations

import pytest

from aetherflow.errors import ConnectorError
from tests.servers.smtp import SmtpServers
from tests.support.context import run_step


def _send(ctx):
    inputs = {"resource": "mailer", "to": "ops@example.test", "subject": "Nightly export", "body": "all good"}
    return run_step(ctx, "mail_send", inputs)


def test_a_password_is_never_sent_to_a_server_without_tls(smtp_server: SmtpServers, mail_step_env) -> None:
    ctx, _ = mail_step_env(config={"port": smtp_server.plain_auth_port, "starttls": False})

    with pytest.raises(ConnectorError) as caught:
        _send(ctx)

    assert str(caught.value) == (
        f"Mail resource 'mailer': refusing to send the SMTP password to 127.0.0.1:{smtp_server.plain_auth_port} "
        "without TLS; set config.starttls: true or config.use_ssl: true (or options.allow_insecure_auth: true to "
        "send it in cleartext)"
    )
    assert caught.value.transient is False
    assert smtp_server.inbox.logins == [] and smtp_server.inbox.messages == []


def test_allow_insecure_auth_sends_the_password_in_cleartext_and_says_so(
    smtp_server: SmtpServers, mail_step_env
) -> None:
    ctx, events = mail_step_env(
        config={"port": smtp_server.plain_auth_port, "starttls": False}, options={"allow_insecure_auth": "true"}
    )

    _send(ctx)

    assert smtp_server.inbox.logins == [smtp_server.user]
    assert len(smtp_server.inbox.messages) == 1
    [warning] = events.named("smtp_insecure_auth")
    assert (warning["resource"], warning["port"]) == ("mailer", smtp_server.plain_auth_port)
    assert smtp_server.password not in str(warning)


def test_starttls_that_the_server_does_not_offer_fails_instead_of_falling_back_to_cleartext(
    smtp_server: SmtpServers, mail_step_env
) -> None:
    ctx, _ = mail_step_env(config={"port": smtp_server.plain_auth_port, "starttls": True})

    with pytest.raises(ConnectorError, match=r"does not support STARTTLS") as caught:
        _send(ctx)

    assert caught.value.transient is False
    assert smtp_server.inbox.logins == []


def test_no_credentials_need_no_tls(smtp_server: SmtpServers, mail_step_env) -> None:
    ctx, events = mail_step_env(
        config={"port": smtp_server.plain_auth_port, "starttls": False, "username": None, "password": None}
    )

    _send(ctx)

    assert len(smtp_server.inbox.messages) == 1
    assert events.named("smtp_insecure_auth") == []


def test_tls_settings_with_credentials_log_no_warning(smtp_server: SmtpServers, mail_step_env) -> None:
    ctx, events = mail_step_env(options={"allow_insecure_auth": True})

    _send(ctx)

    assert smtp_server.inbox.logins == [smtp_server.user]
    assert events.named("smtp_insecure_auth") == []


def test_allow_insecure_auth_must_be_a_boolean(mail_step_env) -> None:
    ctx, _ = mail_step_env(options={"allow_insecure_auth": "perhaps"})

    with pytest.raises(ConnectorError, match=r"options\.allow_insecure_auth must be a boolean \(.*\), got 'perhaps'"):
        ctx.connector("mailer")


@pytest.mark.parametrize("value", [2, "1.0", "tr\x00ue", "\uff59\uff45\uff53"])
def test_use_ssl_refuses_a_number_other_than_zero_or_one_and_lookalike_words(mail_step_env, value) -> None:
    ctx, _ = mail_step_env(config={"use_ssl": value})

    with pytest.raises(ConnectorError, match=r"config\.use_ssl must be a boolean"):
        ctx.connector("mailer")
