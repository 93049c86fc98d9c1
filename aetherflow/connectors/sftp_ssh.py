"""SSH login for ``sftp:paramiko``: the resource's address and credentials, host-key verification, authentication.

Host keys come only from ``config.known_hosts``; ``options.host_key_policy`` decides what an unknown key does
(``reject``; ``warning`` and ``auto_add`` log and go on, ``auto_add`` pins it for the rest of the run). AES-GCM is
preferred (one AEAD pass per packet instead of cipher + HMAC). paramiko is imported on first use.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aetherflow.api import ConnectorError, ConnectorInit
from aetherflow.connectors.sftp_wire import MAX_PACKET, WINDOW_SIZE

if TYPE_CHECKING:
    import paramiko

_PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
_RSA_ALGORITHMS = ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")
_HOST_KEY_POLICIES = ("reject", "warning", "auto_add")


class SshLogin:
    """Where and as whom one SFTP resource logs in; keeps the host keys it trusts for the connector's life."""

    def __init__(self, init: ConnectorInit) -> None:
        cfg, opts = init.config, init.options
        self.name = init.name
        self._ctx = init.ctx
        self.host = str(cfg.get("host") or "")
        if not self.host:
            raise ConnectorError(f"SFTP resource '{self.name}' needs config.host")
        self.port = as_int(cfg.get("port", 22), f"SFTP resource '{self.name}' config.port")
        self.user = str(cfg.get("user") or cfg.get("username") or "")
        if not self.user:
            raise ConnectorError(f"SFTP resource '{self.name}' needs config.user (or config.username)")
        password = cfg.get("password")
        self._password = None if password in (None, "") else str(password)
        pkey_path = cfg.get("pkey_path")
        self._pkey_path = None if pkey_path in (None, "") else Path(os.path.expanduser(str(pkey_path)))
        passphrase = cfg.get("pkey_passphrase")
        self._passphrase = None if passphrase in (None, "") else str(passphrase)
        if self._password is None and self._pkey_path is None:
            raise ConnectorError(f"SFTP resource '{self.name}' needs config.password or config.pkey_path")
        self._known_hosts_text = str(cfg.get("known_hosts") or "")
        self.timeout = float(opts.get("timeout", 30))
        policy = str(opts.get("host_key_policy", "reject"))
        if policy not in _HOST_KEY_POLICIES:
            raise ConnectorError(
                f"SFTP resource '{self.name}' options.host_key_policy must be one of "
                f"{list(_HOST_KEY_POLICIES)}, got '{policy}'"
            )
        self.host_key_policy = policy
        self._host_keys: paramiko.HostKeys | None = None

    def connect(self) -> paramiko.Transport:
        """A new authenticated SSH transport (handshake, host-key check, login), closed again on any failure."""
        import paramiko

        where = f"{self.host}:{self.port}"
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            raise ConnectorError(
                f"SFTP server {where} unreachable for resource '{self.name}': {describe(exc)}", transient=True
            ) from exc
        transport = paramiko.Transport(sock, default_window_size=WINDOW_SIZE, default_max_packet_size=MAX_PACKET)
        transport.banner_timeout = self.timeout
        transport.handshake_timeout = self.timeout
        transport.auth_timeout = self.timeout
        try:
            host_keys = self._load_host_keys()
            self._set_preferences(transport, host_keys)
            try:
                transport.start_client(timeout=self.timeout)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise ConnectorError(
                    f"SSH handshake with {where} failed for resource '{self.name}': {describe(exc)}",
                    transient=True,
                ) from exc
            self._verify_host_key(transport, host_keys)
            self._authenticate(transport)
        except BaseException:
            transport.close()
            raise
        return transport

    def _load_host_keys(self) -> paramiko.HostKeys:
        import paramiko

        if self._host_keys is not None:
            return self._host_keys
        keys = paramiko.HostKeys()
        for lineno, raw in enumerate(self._known_hosts_text.splitlines(), start=1):
            line = " ".join(raw.split())
            if not line or line.startswith("#") or line.startswith("@"):
                continue  # markers (@cert-authority, @revoked) are not plain trusted keys
            try:
                entry = paramiko.hostkeys.HostKeyEntry.from_line(line, lineno)
            except (paramiko.SSHException, ValueError) as exc:
                raise ConnectorError(
                    f"SFTP resource '{self.name}': config.known_hosts line {lineno} is not a valid known_hosts entry"
                ) from exc
            if entry is None:
                continue  # a key type this paramiko does not know
            for hostname in entry.hostnames:
                keys.add(hostname, entry.key.get_name(), entry.key)
        self._host_keys = keys
        return keys

    def _lookup_name(self) -> str:
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    def _set_preferences(self, transport: paramiko.Transport, host_keys: paramiko.HostKeys) -> None:
        options = transport.get_security_options()
        ciphers = tuple(options.ciphers)
        options.ciphers = tuple(c for c in _PREFERRED_CIPHERS if c in ciphers) + tuple(
            c for c in ciphers if c not in _PREFERRED_CIPHERS
        )
        known = host_keys.lookup(self._lookup_name())
        if known:
            # Ask for a key type we can verify, as OpenSSH does when the host is in known_hosts.
            wanted: list[str] = []
            for key_type in known:
                wanted.extend(_RSA_ALGORITHMS if key_type == "ssh-rsa" else (key_type,))
            available = tuple(options.key_types)
            first = tuple(k for k in wanted if k in available)
            options.key_types = first + tuple(k for k in available if k not in first)

    def _verify_host_key(self, transport: paramiko.Transport, host_keys: paramiko.HostKeys) -> None:
        server_key = transport.get_remote_server_key()
        name = self._lookup_name()
        known = host_keys.lookup(name)
        expected = known.get(server_key.get_name()) if known else None
        if expected is not None and expected.asbytes() == server_key.asbytes():
            return
        reason = "mismatch" if expected is not None else "unknown"
        if reason == "mismatch" or self.host_key_policy == "reject":
            raise ConnectorError(f"SFTP host key for {self.host}:{self.port} not verified ({reason})")
        self._ctx.emit(
            "sftp_host_key_unverified",
            level="WARNING",
            host=self.host,
            port=self.port,
            resource=self.name,
            policy=self.host_key_policy,
            key_type=server_key.get_name(),
            fingerprint=server_key.fingerprint,
        )
        if self.host_key_policy == "auto_add":
            # Pinned for the rest of the run: a different key on a reconnect is a mismatch.
            host_keys.add(name, server_key.get_name(), server_key)

    def _authenticate(self, transport: paramiko.Transport) -> None:
        import paramiko

        where = f"{self.host}:{self.port}"
        refused = (
            f"SFTP authentication failed for user '{self.user}' at {where} (resource '{self.name}'): "
            "check config.user and config.password / config.pkey_path"
        )
        try:
            remaining: list[str] = []
            if self._pkey_path is not None:
                pkey = self._load_pkey()
                try:
                    remaining = list(transport.auth_publickey(self.user, pkey) or [])
                except paramiko.AuthenticationException:
                    if self._password is None:
                        raise
                    remaining = ["password"]
                if remaining and self._password is not None and "password" in remaining:
                    transport.auth_password(self.user, self._password)
            else:
                assert self._password is not None
                transport.auth_password(self.user, self._password)
        except paramiko.BadAuthenticationType as exc:
            allowed = ", ".join(exc.allowed_types)
            raise ConnectorError(f"{refused} (server accepts only: {allowed})") from None
        except paramiko.AuthenticationException:
            raise ConnectorError(refused) from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise ConnectorError(
                f"SSH authentication with {where} interrupted for resource '{self.name}': {describe(exc)}",
                transient=True,
            ) from exc
        if not transport.is_authenticated():
            raise ConnectorError(refused)

    def _load_pkey(self) -> paramiko.PKey:
        import paramiko

        assert self._pkey_path is not None
        try:
            passphrase = self._passphrase.encode() if self._passphrase is not None else None
            return paramiko.PKey.from_path(self._pkey_path, passphrase=passphrase)
        except FileNotFoundError:
            raise ConnectorError(
                f"SFTP resource '{self.name}': private key file not found: {self._pkey_path}"
            ) from None
        except paramiko.PasswordRequiredException:
            raise ConnectorError(
                f"SFTP resource '{self.name}': private key {self._pkey_path} is encrypted; set config.pkey_passphrase"
            ) from None
        except (paramiko.SSHException, ValueError, OSError) as exc:
            raise ConnectorError(
                f"SFTP resource '{self.name}': cannot load private key {self._pkey_path} "
                f"({type(exc).__name__}; wrong passphrase or unsupported key type?)"
            ) from None


def describe(exc: BaseException) -> str:
    """An exception as ``Type: text`` for messages (the type alone when it has no text)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def as_int(value: Any, what: str) -> int:
    """``value`` as an integer, or a permanent ``ConnectorError`` naming ``what``."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConnectorError(f"{what} must be an integer, got {value!r}") from None
