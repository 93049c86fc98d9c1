"""Real SMTP servers (aiosmtpd) on 127.0.0.1 for the mail tests: STARTTLS + AUTH, implicit TLS, plain, and a careless
plain one that offers AUTH without TLS.

The certificate is self-signed and made here with ``cryptography`` (CN localhost, SAN 127.0.0.1); clients trust it
through the resource's ``options.verify_ssl: <ca file>``. Every server shares one inbox, emptied before each test.
Recipients starting with ``tempfail`` get ``451`` (transient), ``reject`` get ``550`` (permanent), and ``flaky`` get
``451`` the first time each address is seen, then ``250``.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

SMTP_USER = "runner"
SMTP_PASSWORD = "smtp-S3cret-pass"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """Write ``cert.pem`` and ``key.pem`` for localhost / 127.0.0.1; return their paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@dataclass
class Received:
    """One delivered message: envelope and the parsed message (its raw bytes in ``raw``)."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage


@dataclass
class Inbox:
    """What the servers accepted, in order."""

    messages: list[Received] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        if address.startswith("tempfail"):
            return "451 4.3.0 mailbox busy, try later"
        if address.startswith("reject"):
            return "550 5.1.1 no such user"
        if address.startswith("flaky"):
            with self.lock:
                first = address not in self.seen
                self.seen.add(address)
            if first:
                return "451 4.3.0 greylisted, try again"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = bytes(envelope.original_content or envelope.content)
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.lock:
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), raw, parsed))
        return "250 OK"


@dataclass
class SmtpServers:
    """The three servers and what a client needs to reach them."""

    host: str
    starttls_port: int  # STARTTLS required, AUTH required after TLS
    ssl_port: int  # implicit TLS, AUTH offered
    plain_port: int  # no TLS, no AUTH
    plain_auth_port: int  # no TLS, AUTH offered in cleartext (what a client must not use)
    ca_file: Path
    user: str
    password: str
    inbox: Inbox


@pytest.fixture(scope="session")
def smtp_servers() -> Iterator[SmtpServers]:
    """Start the aiosmtpd controllers once per session."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == SMTP_USER.encode()
            and auth_data.password == SMTP_PASSWORD.encode()
        )
        if ok:
            inbox.logins.append(SMTP_USER)
        # handled=False lets aiosmtpd answer 535 itself; the default makes a failed AUTH hang the client.
        return AuthResult(success=ok, handled=False)

    with tempfile.TemporaryDirectory(prefix="aetherflow-smtp-") as tmp:
        cert, key = make_self_signed_cert(Path(tmp))
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert, key)
        inbox = Inbox()
        controllers = [
            Controller(
                inbox,
                hostname="127.0.0.1",
                port=_free_port(),
                tls_context=tls,
                require_starttls=True,
                authenticator=authenticator,
                auth_required=True,
                auth_require_tls=True,
            ),
            Controller(
                inbox,
                hostname="127.0.0.1",
                port=_free_port(),
                ssl_context=tls,
                authenticator=authenticator,
                # aiosmtpd only counts STARTTLS as TLS, so over implicit TLS AUTH is offered but not enforced.
                auth_require_tls=False,
            ),
            Controller(inbox, hostname="127.0.0.1", port=_free_port()),
            Controller(
                inbox, hostname="127.0.0.1", port=_free_port(), authenticator=authenticator, auth_require_tls=False
            ),
        ]
        started: list[Any] = []
        try:
            for controller in controllers:
                controller.start()
                started.append(controller)
            yield SmtpServers(
                host="127.0.0.1",
                starttls_port=controllers[0].port,
                ssl_port=controllers[1].port,
                plain_port=controllers[2].port,
                plain_auth_port=controllers[3].port,
                ca_file=cert,
                user=SMTP_USER,
                password=SMTP_PASSWORD,
                inbox=inbox,
            )
        finally:
            for controller in started:
                controller.stop()


@pytest.fixture
def smtp_server(smtp_servers: SmtpServers) -> SmtpServers:
    """The session's SMTP servers with an empty inbox."""
    with smtp_servers.inbox.lock:
        smtp_servers.inbox.messages.clear()
        smtp_servers.inbox.logins.clear()
    return smtp_servers
