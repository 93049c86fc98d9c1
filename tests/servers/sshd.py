"""A real OpenSSH sshd serving SFTP (internal-sftp) on 127.0.0.1, for the SFTP connector tests and bench.

One server per test session (startup ~0.1 s, but it needs a throwaway OS user). Each test gets its own remote
directory (``sftp_dir``), so tests never see each other's files. Needs root and ``/usr/sbin/sshd``
(Debian: ``openssh-server``); otherwise the tests that use it are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.procs import descendants_of

SSHD = Path("/usr/sbin/sshd")
SFTP_USER = "aetherflow-sftp"
SFTP_PASSWORD = "sftp-test-Pa55word"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ed25519_keypair(private_path: Path) -> str:
    """Write an unencrypted OpenSSH ed25519 private key; return its public line ``ssh-ed25519 AAAA...``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
    )
    private_path.chmod(0o600)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return public.decode()


def sshd_unavailable_reason() -> str | None:
    """Why a real sshd cannot run here, or None when it can."""
    if not SSHD.exists():
        return f"{SSHD} is missing (install the Debian package openssh-server)"
    if os.geteuid() != 0:
        return "the sshd fixture needs root (it creates a throwaway OS user)"
    return None


def _ensure_user(name: str, password: str) -> Path:
    """Create (or reuse) an OS account that may log in with a key or ``password``; return its home."""
    try:
        home = Path(pwd.getpwnam(name).pw_dir)
    except KeyError:
        subprocess.run(
            ["useradd", "--create-home", "--shell", "/usr/sbin/nologin", name], check=True, capture_output=True
        )
        home = Path(pwd.getpwnam(name).pw_dir)
    # A fresh account is locked ("!"), and sshd without PAM refuses even key logins for locked accounts.
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True, capture_output=True)
    return home


@dataclass
class SshdServer:
    """A running sshd: where it listens, who may log in, and the keys a client needs."""

    host: str
    port: int
    user: str
    password: str
    home: Path
    client_key: Path
    host_key_line: str  # "ssh-ed25519 AAAA..." of the server
    process: subprocess.Popen[bytes]
    workdir: Path
    uid: int = field(default=0)
    gid: int = field(default=0)

    @property
    def known_hosts(self) -> str:
        """known_hosts text that trusts this server (``[host]:port`` form, as the port is not 22)."""
        return f"[{self.host}]:{self.port} {self.host_key_line}\n"

    def session_pids(self) -> list[int]:
        """PIDs of every per-connection sshd process (the listener's descendants: monitors and session children)."""
        return descendants_of(self.process.pid)

    def make_dir(self, rel: str) -> Path:
        """Create ``home/rel`` owned by the SFTP user; return the local path."""
        path = self.home / rel
        path.mkdir(parents=True, exist_ok=True)
        parts = Path(rel).parts
        for depth in range(1, len(parts) + 1):
            os.chown(self.home.joinpath(*parts[:depth]), self.uid, self.gid)
        return path

    def put(self, rel: str, data: bytes, *, mtime: float | None = None) -> Path:
        """Create a remote file ``home/rel`` (owned by the SFTP user) with ``data``; optionally set its mtime."""
        path = self.home / rel
        self.make_dir(str(Path(rel).parent))
        path.write_bytes(data)
        os.chown(path, self.uid, self.gid)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        return path


@contextlib.contextmanager
def run_sshd(workdir: Path, *, user: str = SFTP_USER, password: str = SFTP_PASSWORD) -> Iterator[SshdServer]:
    """Start sshd on a free port with a temp host key and config; stop it (by PID) on exit."""
    home = _ensure_user(user, password)
    entry = pwd.getpwnam(user)
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    host_key_line = _ed25519_keypair(workdir / "host_ed25519")
    client_pub = _ed25519_keypair(workdir / "client_ed25519")
    keys = workdir / "keys"
    keys.mkdir(exist_ok=True)
    (keys / user).write_text(client_pub + "\n")
    keys.chmod(0o755)
    (keys / user).chmod(0o644)
    port = _free_port()
    config = workdir / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {workdir / 'host_ed25519'}",
                f"PidFile {workdir / 'sshd.pid'}",
                f"AuthorizedKeysFile {keys}/%u",
                "PasswordAuthentication yes",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "PermitRootLogin no",
                f"AllowUsers {user}",
                "UsePAM no",
                "StrictModes no",
                "MaxStartups 50",
                "Subsystem sftp internal-sftp",
                "LogLevel ERROR",
                "",
            ]
        )
    )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    log = (workdir / "sshd.log").open("wb")
    proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {proc.returncode}: {(workdir / 'sshd.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        yield SshdServer(
            host="127.0.0.1",
            port=port,
            user=user,
            password=password,
            home=home,
            client_key=workdir / "client_ed25519",
            host_key_line=host_key_line,
            process=proc,
            workdir=workdir,
            uid=entry.pw_uid,
            gid=entry.pw_gid,
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="session")
def sshd_server() -> Iterator[SshdServer]:
    """One real OpenSSH sshd for the whole session (skips when sshd or root is unavailable)."""
    reason = sshd_unavailable_reason()
    if reason:
        pytest.skip(reason)
    workdir = Path(tempfile.mkdtemp(prefix="aetherflow-sshd-"))
    try:
        with run_sshd(workdir) as server:
            yield server
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def sftp_dir(sshd_server: SshdServer) -> Iterator[str]:
    """A fresh remote directory (relative to the SFTP user's home) for one test; removed afterwards."""
    rel = f"t-{uuid.uuid4().hex[:12]}"
    path = sshd_server.make_dir(rel)
    try:
        yield rel
    finally:
        shutil.rmtree(path, ignore_errors=True)
