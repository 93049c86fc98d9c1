"""SMTP with the standard library (``mail:smtp``): plain, STARTTLS or implicit TLS, optional AUTH.

One connection per message (mail steps are rare; an idle SMTP session would time out between steps anyway).
Failures become ``ConnectorError``: SMTP 4xx answers, dropped connections, refused connections and timeouts are
transient; authentication failures, 5xx answers and TLS verification failures are permanent. The password is only
handed to ``smtplib.SMTP.login`` and never appears in a message.

``options.verify_ssl`` (extension, as for ``rest`` and ``s3``): ``true`` (default, system CAs), ``false`` (no
verification), or the path of a PEM CA bundle that signs the server's certificate.

AUTH happens only over TLS (``use_ssl`` or ``starttls``): with credentials and neither, ``send`` refuses before it
connects (permanent), unless ``options.allow_insecure_auth: true``, which is logged as ``smtp_insecure_auth``.
A ``starttls`` the server does not offer is an error, never a silent fall back to cleartext.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from typing import Any

from aetherflow.api import Connector, ConnectorError, ConnectorInit, RetryPolicy
from aetherflow.booleans import bool_word, parse_lax_bool


class SmtpConnector(Connector):
    """The ``mail:smtp`` connector: sends one ``EmailMessage`` per call."""

    config_keys = frozenset({"host", "port", "username", "password", "starttls", "use_ssl", "from_addr"})
    options_keys = frozenset({"timeout", "retry", "verify_ssl", "allow_insecure_auth", "cache"})

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        cfg, opts = init.config, init.options
        self.host = str(cfg.get("host") or "")
        if not self.host:
            raise ConnectorError(f"Mail resource '{self.name}' needs config.host")
        try:
            self.port = int(cfg.get("port", 587))
        except (TypeError, ValueError):
            raise ConnectorError(f"Mail resource '{self.name}' config.port must be an integer") from None
        self.use_ssl = self._flag(cfg.get("use_ssl", self.port == 465), "config.use_ssl")
        starttls_default = self.port == 587 and not self.use_ssl
        self.starttls = self._flag(cfg.get("starttls", starttls_default), "config.starttls")
        if self.use_ssl and self.starttls:
            raise ConnectorError(
                f"Mail resource '{self.name}': config.use_ssl and config.starttls exclude each other "
                "(use_ssl: TLS from the first byte, usually port 465; starttls: upgrade, usually port 587)"
            )
        username = cfg.get("username")
        self.username = None if username in (None, "") else str(username)
        password = cfg.get("password")
        self._password = None if password in (None, "") else str(password)
        from_addr = cfg.get("from_addr") or self.username
        self.from_addr = None if from_addr in (None, "") else str(from_addr)
        self.timeout = float(opts.get("timeout", 30))
        retry = opts.get("retry") or {}
        if not isinstance(retry, Mapping):
            raise ConnectorError(f"Mail resource '{self.name}' options.retry must be a mapping (max_attempts)")
        try:
            self.max_attempts = max(1, int(retry.get("max_attempts", 1)))
        except (TypeError, ValueError):
            raise ConnectorError(f"Mail resource '{self.name}' options.retry.max_attempts must be an integer") from None
        self._verify: Any = opts.get("verify_ssl", True)
        self.allow_insecure_auth = self._flag(opts.get("allow_insecure_auth", False), "options.allow_insecure_auth")
        if self._credentials and not self._tls and self.allow_insecure_auth:
            init.ctx.emit("smtp_insecure_auth", level="WARNING", resource=self.name, host=self.host, port=self.port)

    def _flag(self, value: Any, key: str) -> bool:
        return parse_lax_bool(value, where=f"Mail resource '{self.name}' {key}", error=ConnectorError)

    @property
    def _tls(self) -> bool:
        return self.use_ssl or self.starttls

    @property
    def _credentials(self) -> tuple[str, str] | None:
        return (self.username, self._password) if self.username and self._password else None

    def default_retry(self) -> RetryPolicy | None:
        """``retry.max_attempts`` total attempts (each reconnects), transient failures only, backoff 1 s x2 ≤ 5 s."""
        if self.max_attempts <= 1:
            return None
        return RetryPolicy(
            max_attempts=self.max_attempts, backoff_seconds=1.0, factor=2.0, max_delay_seconds=5.0, transient_only=True
        )

    def send(self, message: EmailMessage, *, from_addr: str, recipients: Sequence[str]) -> dict[str, tuple[int, str]]:
        """Deliver ``message`` to ``recipients`` (envelope; Bcc included); return the recipients the server refused.

        Raises ``ConnectorError`` when nothing was accepted; a partial refusal is returned, not raised, because the
        message has already gone to the others and a retry would send it twice.
        """

        where = f"{self.host}:{self.port}"
        if self._credentials and not self._tls and not self.allow_insecure_auth:
            raise ConnectorError(
                f"Mail resource '{self.name}': refusing to send the SMTP password to {where} without TLS; set "
                "config.starttls: true or config.use_ssl: true (or options.allow_insecure_auth: true to send it in "
                "cleartext)"
            )
        phase = ["connect"]  # the SMTP phase reached, for messages
        try:
            refused = self._deliver(message, from_addr, recipients, phase)
        except OSError as exc:  # smtplib's and ssl's errors are OSErrors too
            raise self._failure(exc, phase[-1], where) from None
        return {addr: (int(code), _text(text)) for addr, (code, text) in refused.items()}

    def _deliver(
        self, message: EmailMessage, from_addr: str, recipients: Sequence[str], phase: list[str]
    ) -> dict[str, tuple[int, bytes]]:
        """One SMTP session: connect, EHLO, STARTTLS, AUTH, send; ``phase`` gets each phase as it starts."""
        import smtplib

        context = self._tls_context() if self._tls else None
        smtp: smtplib.SMTP
        if self.use_ssl:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            phase.append("EHLO")
            smtp.ehlo()
            if self.starttls:
                phase.append("STARTTLS")
                smtp.starttls(context=context)
                smtp.ehlo()
            if credentials := self._credentials:
                phase.append("AUTH")
                smtp.login(*credentials)
            phase.append("send")
            return smtp.send_message(message, from_addr=from_addr, to_addrs=list(recipients))

    def _failure(self, exc: OSError, phase: str, where: str) -> ConnectorError:
        """The ``ConnectorError`` for a failed session: permanent unless a retry may pass (4xx, drops, timeouts)."""
        import smtplib

        found = self._smtp_failure(exc, phase, where) if isinstance(exc, smtplib.SMTPException) else None
        if found is not None:
            return found
        if isinstance(exc, ssl.SSLCertVerificationError):
            return ConnectorError(
                f"SMTP server {where} TLS certificate not trusted (resource '{self.name}'): {exc.verify_message}; "
                "set options.verify_ssl to the CA bundle that signed it"
            )
        if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
            return ConnectorError(
                f"SMTP server {where} dropped the TLS session during {phase} (resource '{self.name}'): {exc}",
                transient=True,
            )
        if isinstance(exc, ssl.SSLError):
            return ConnectorError(
                f"SMTP TLS handshake with {where} failed during {phase} (resource '{self.name}'): {exc.reason}; "
                "check that config.use_ssl / config.starttls match the port"
            )
        if isinstance(exc, FileNotFoundError):
            return ConnectorError(
                f"Mail resource '{self.name}': options.verify_ssl CA bundle not found: {exc.filename}"
            )
        # refused, reset, unreachable, timed out, DNS
        reason = f"{type(exc).__name__}: {exc}"
        return ConnectorError(
            f"SMTP server {where} unreachable during {phase} (resource '{self.name}'): {reason}", transient=True
        )

    def _smtp_failure(self, exc: OSError, phase: str, where: str) -> ConnectorError | None:
        import smtplib

        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return ConnectorError(
                f"SMTP login refused for user '{self.username}' at {where} (resource '{self.name}'): "
                f"{exc.smtp_code} {_text(exc.smtp_error)}; check config.username / config.password"
            )
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return ConnectorError(
                f"SMTP server {where} does not support {phase} (resource '{self.name}'): {exc}; "
                "check config.starttls / config.use_ssl / config.username"
            )
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            answers = {addr: (int(code), _text(text)) for addr, (code, text) in exc.recipients.items()}
            listed = ", ".join(f"{addr} ({code} {text})" for addr, (code, text) in sorted(answers.items()))
            transient = all(400 <= code < 500 for code, _ in answers.values())
            return ConnectorError(
                f"SMTP server {where} refused every recipient (resource '{self.name}'): {listed}", transient=transient
            )
        if isinstance(exc, smtplib.SMTPResponseException):
            code = int(exc.smtp_code)
            return ConnectorError(
                f"SMTP server {where} answered {code} {_text(exc.smtp_error)} during {phase} (resource '{self.name}')",
                transient=400 <= code < 500,
            )
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return ConnectorError(
                f"SMTP server {where} closed the connection during {phase} (resource '{self.name}'): {exc}",
                transient=True,
            )
        return None

    def _tls_context(self) -> ssl.SSLContext:
        verify = self._verify
        if isinstance(verify, str) and (word := bool_word(verify)) is not None:
            verify = word
        if verify is False:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        if isinstance(verify, str) and verify:
            return ssl.create_default_context(cafile=verify)
        return ssl.create_default_context()


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
