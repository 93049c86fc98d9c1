"""``aetherflow run`` end to end with ``mail_send``: a greylisting 451 retried, a wrong password failing at once."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.servers.smtp import SmtpServers
from tests.support.cli import FlowRun, make_flow


def _flow(tmp_path: Path, smtp: SmtpServers, step: str, *, password: str = "{{env.SMTP_PASSWORD}}") -> FlowRun:
    return make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: mail_e2e}}
        resources:
          mailer:
            kind: mail
            driver: smtp
            config:
              host: 127.0.0.1
              port: {smtp.starttls_port}
              starttls: true
              username: {smtp.user}
              password: "{password}"
              from_addr: runner@example.test
            options: {{timeout: 10, verify_ssl: "{smtp.ca_file}"}}
        jobs:
          - id: notify
            steps:
{step}
        """,
    )


def test_greylisted_recipient_is_retried_and_the_mail_arrives_once(tmp_path: Path, smtp_server: SmtpServers) -> None:
    rcpt = f"flaky-{uuid.uuid4().hex[:8]}@example.test"
    flow = _flow(
        tmp_path,
        smtp_server,
        f"""              - id: send
                type: mail_send
                inputs: {{resource: mailer, to: "{rcpt}", subject: "run {{{{run_id}}}}", body: done}}
                retry: {{max_attempts: 2, backoff_seconds: 0.1}}""",
    )

    result = flow.run(env={"SMTP_PASSWORD": smtp_server.password})

    assert result.code == 0, result.stderr
    assert [m.rcpt_tos for m in smtp_server.inbox.messages] == [[rcpt]]
    assert smtp_server.inbox.messages[0].message["Subject"] == "run r1"
    [(status, attempts, outputs)] = flow.query("SELECT status, attempts, outputs_json FROM step_runs")
    assert (status, attempts) == ("SUCCESS", 2)
    assert json.loads(outputs) == {"sent": True, "to": [rcpt], "subject": "run r1", "html": False}


def test_wrong_password_fails_at_once_and_is_never_logged(tmp_path: Path, smtp_server: SmtpServers) -> None:
    flow = _flow(
        tmp_path,
        smtp_server,
        """              - id: send
                type: mail_send
                inputs: {resource: mailer, to: ops@example.test, subject: s, body: b}
                retry: {max_attempts: 3, backoff_seconds: 0.1}""",
    )

    result = flow.run(env={"SMTP_PASSWORD": "Wrong-Secret-Value-9"})

    assert result.code == 3  # permanent: retrying cannot help
    [(status, attempts, error)] = flow.query("SELECT status, attempts, error FROM step_runs")
    assert (status, attempts) == ("FAILED", 1)
    assert error.startswith("ConnectorError: SMTP login refused for user 'runner'")
    assert "Wrong-Secret-Value-9" not in result.stderr + result.stdout
    assert smtp_server.inbox.messages == []


def test_a_password_is_refused_without_tls_before_any_login(tmp_path: Path, smtp_server: SmtpServers) -> None:
    flow = make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: mail_cleartext}}
        resources:
          mailer:
            kind: mail
            driver: smtp
            config:
              host: 127.0.0.1
              port: {smtp_server.plain_auth_port}
              username: {smtp_server.user}
              password: "{{{{env.SMTP_PASSWORD}}}}"
              from_addr: runner@example.test
            options: {{timeout: 10}}
        jobs:
          - id: notify
            steps:
              - id: send
                type: mail_send
                inputs: {{resource: mailer, to: ops@example.test, subject: s, body: b}}
                retry: {{max_attempts: 3, backoff_seconds: 0.1}}
        """,
    )

    result = flow.run(env={"SMTP_PASSWORD": "Cleartext-Secret-41"})

    assert result.code in (1, 3)  # a permanent failure (its own exit code once permanent failures get one)
    [(status, attempts, error)] = flow.query("SELECT status, attempts, error FROM step_runs")
    assert (status, attempts) == ("FAILED", 1)
    assert error.startswith("ConnectorError: Mail resource 'mailer': refusing to send the SMTP password to 127.0.0.1:")
    assert "Cleartext-Secret-41" not in result.stderr + result.stdout + error
    assert smtp_server.inbox.logins == [] and smtp_server.inbox.messages == []
