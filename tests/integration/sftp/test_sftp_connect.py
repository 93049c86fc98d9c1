"""SFTP connection rules against a real sshd: host keys verified by default, clean auth failures, transient errors."""

from __future__ import annotations

import os
import signal
import socket
import time

import paramiko
import pytest

from aetherflow.errors import ConnectorError
from tests.servers.sshd import SshdServer
from tests.support.context import run_step


def _other_host_key_line() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public = Ed25519PrivateKey.generate().public_key()
    return public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def _list(ctx, remote_dir: str):
    return run_step(ctx, "sftp_list_files", {"resource": "sftp", "remote_dir": remote_dir, "min_count": 0})


def test_known_host_key_lets_the_step_run(sftp_dir: str, sftp_step_env) -> None:
    ctx, events = sftp_step_env()

    result = _list(ctx, sftp_dir)

    assert result.output["count"] == 0
    assert events.named("sftp_host_key_unverified") == []


def test_hashed_known_hosts_entry_is_honoured(sshd_server: SshdServer, sftp_dir: str, sftp_step_env) -> None:
    hashed = paramiko.HostKeys.hash_host(f"[{sshd_server.host}]:{sshd_server.port}")
    ctx, _ = sftp_step_env(config={"known_hosts": f"# ops-managed\n{hashed} {sshd_server.host_key_line}\n"})

    assert _list(ctx, sftp_dir).output["count"] == 0


def test_different_host_key_is_refused_as_mismatch(sshd_server: SshdServer, sftp_dir: str, sftp_step_env) -> None:
    known = f"[{sshd_server.host}]:{sshd_server.port} {_other_host_key_line()}\n"
    ctx, _ = sftp_step_env(config={"known_hosts": known})

    with pytest.raises(ConnectorError) as caught:
        _list(ctx, sftp_dir)

    assert str(caught.value) == f"SFTP host key for {sshd_server.host}:{sshd_server.port} not verified (mismatch)"
    assert caught.value.transient is False


def test_mismatch_is_refused_even_with_auto_add(sshd_server: SshdServer, sftp_dir: str, sftp_step_env) -> None:
    known = f"[{sshd_server.host}]:{sshd_server.port} {_other_host_key_line()}\n"
    ctx, _ = sftp_step_env(config={"known_hosts": known}, options={"host_key_policy": "auto_add"})

    with pytest.raises(ConnectorError, match=r"not verified \(mismatch\)$"):
        _list(ctx, sftp_dir)


def test_unknown_host_key_is_refused_by_default(sshd_server: SshdServer, sftp_dir: str, sftp_step_env) -> None:
    ctx, _ = sftp_step_env(config={"known_hosts": ""})

    with pytest.raises(ConnectorError) as caught:
        _list(ctx, sftp_dir)

    assert str(caught.value) == f"SFTP host key for {sshd_server.host}:{sshd_server.port} not verified (unknown)"
    assert caught.value.transient is False


def test_entry_for_port_22_does_not_vouch_for_another_port(
    sshd_server: SshdServer, sftp_dir: str, sftp_step_env
) -> None:
    ctx, _ = sftp_step_env(config={"known_hosts": f"{sshd_server.host} {sshd_server.host_key_line}\n"})

    with pytest.raises(ConnectorError, match=r"not verified \(unknown\)$"):
        _list(ctx, sftp_dir)


@pytest.mark.parametrize("policy", ["warning", "auto_add"])
def test_unknown_host_key_is_accepted_with_a_warning_when_policy_allows(
    policy: str, sshd_server: SshdServer, sftp_dir: str, sftp_step_env
) -> None:
    ctx, events = sftp_step_env(config={"known_hosts": ""}, options={"host_key_policy": policy})

    result = _list(ctx, sftp_dir)

    assert result.output["count"] == 0
    warnings = events.named("sftp_host_key_unverified")
    assert len(warnings) == 1
    assert warnings[0]["level"] == "WARNING"
    assert (warnings[0]["host"], warnings[0]["port"]) == (sshd_server.host, sshd_server.port)


def test_wrong_password_fails_permanently_without_echoing_it(
    sshd_server: SshdServer, sftp_dir: str, sftp_step_env
) -> None:
    ctx, _ = sftp_step_env(config={"pkey_path": None, "password": "definitely-Wrong-77"})

    with pytest.raises(ConnectorError) as caught:
        _list(ctx, sftp_dir)

    message = str(caught.value)
    assert message.startswith(f"SFTP authentication failed for user '{sshd_server.user}' at 127.0.0.1:")
    assert "definitely-Wrong-77" not in message
    assert caught.value.transient is False


def test_password_login_works(sshd_server: SshdServer, sftp_dir: str, sftp_step_env) -> None:
    ctx, _ = sftp_step_env(config={"pkey_path": None, "password": sshd_server.password})

    assert _list(ctx, sftp_dir).output["count"] == 0


def test_key_the_server_does_not_know_fails_permanently(tmp_path, sftp_dir: str, sftp_step_env) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key_file = tmp_path / "stranger_ed25519"
    key_file.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
    )
    ctx, _ = sftp_step_env(config={"pkey_path": str(key_file)})

    with pytest.raises(ConnectorError, match="SFTP authentication failed") as caught:
        _list(ctx, sftp_dir)

    assert caught.value.transient is False


def test_encrypted_key_is_loaded_with_its_passphrase(
    tmp_path, sshd_server: SshdServer, sftp_dir: str, sftp_step_env
) -> None:
    from cryptography.hazmat.primitives import serialization

    plain = serialization.load_ssh_private_key(sshd_server.client_key.read_bytes(), password=None)
    encrypted = tmp_path / "client_encrypted"
    encrypted.write_bytes(
        plain.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.BestAvailableEncryption(b"open sesame"),
        )
    )
    ctx, _ = sftp_step_env(config={"pkey_path": str(encrypted), "pkey_passphrase": "open sesame"})

    assert _list(ctx, sftp_dir).output["count"] == 0


def test_refused_connection_is_transient(sshd_server: SshdServer, sftp_step_env) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    ctx, _ = sftp_step_env(config={"port": closed_port})

    with pytest.raises(ConnectorError, match=f"SFTP server 127.0.0.1:{closed_port} unreachable") as caught:
        _list(ctx, "anything")

    assert caught.value.transient is True


def test_session_dropped_between_steps_is_reopened(sshd_server: SshdServer, sftp_dir: str, sftp_step_env) -> None:
    ctx, _ = sftp_step_env()
    _list(ctx, sftp_dir)
    for pid in sshd_server.session_pids():
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)

    try:
        _list(ctx, sftp_dir)  # either notices the dead session at once and reconnects, or fails transiently
    except ConnectorError as exc:
        assert exc.transient is True
    again = _list(ctx, sftp_dir)

    assert again.output["count"] == 0


def test_wrong_key_passphrase_is_a_clear_permanent_error(
    tmp_path, sshd_server: SshdServer, sftp_dir: str, sftp_step_env
) -> None:
    from cryptography.hazmat.primitives import serialization

    plain = serialization.load_ssh_private_key(sshd_server.client_key.read_bytes(), password=None)
    encrypted = tmp_path / "client_encrypted"
    encrypted.write_bytes(
        plain.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.BestAvailableEncryption(b"open sesame"),
        )
    )
    ctx, _ = sftp_step_env(config={"pkey_path": str(encrypted), "pkey_passphrase": "not it"})

    with pytest.raises(ConnectorError, match=f"cannot load private key {encrypted}") as caught:
        _list(ctx, sftp_dir)

    assert caught.value.transient is False
    assert "not it" not in str(caught.value)


@pytest.mark.parametrize(
    ("config", "options", "message"),
    [
        ({"host": ""}, {}, "SFTP resource 'sftp' needs config.host"),
        ({"user": None}, {}, "SFTP resource 'sftp' needs config.user (or config.username)"),
        ({"pkey_path": None}, {}, "SFTP resource 'sftp' needs config.password or config.pkey_path"),
        ({}, {"host_key_policy": "trust_me"}, "options.host_key_policy must be one of"),
    ],
)
def test_incomplete_resource_config_is_a_permanent_error_naming_the_key(
    config: dict, options: dict, message: str, sftp_step_env
) -> None:
    ctx, _ = sftp_step_env(config=config, options=options)

    with pytest.raises(ConnectorError) as caught:
        ctx.connector("sftp")

    assert message in str(caught.value)
    assert caught.value.transient is False


def test_username_is_accepted_as_an_alias_of_user(sshd_server: SshdServer, sftp_dir: str, sftp_step_env) -> None:
    ctx, _ = sftp_step_env(config={"user": None, "username": sshd_server.user})

    assert _list(ctx, sftp_dir).output["count"] == 0
