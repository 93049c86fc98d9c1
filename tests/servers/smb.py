"""A real Samba smbd serving one share on 127.0.0.1, for the SMB connector and step tests.

One server per test session, on a random port, with a private smb.conf (every state directory in a temp dir, a tdbsam
password database) and a throwaway OS user (Samba maps SMB users to OS users). It accepts the SMB1 negotiate, which
pysmb needs before it moves to SMB2. Each test gets its own directory on the share (``smb_dir``). Needs root and
``smbd`` (Debian: ``samba``); otherwise the tests that use it are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.procs import descendants_of

SMB_USER = "aetherflow-smb"
SMB_PASSWORD = "smb-test-Pa55word"
SHARE = "data"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def smbd_unavailable_reason() -> str | None:
    """Why a real smbd cannot run here, or None when it can."""
    if shutil.which("smbd", path="/usr/sbin:/usr/bin:/sbin:/bin") is None:
        return "smbd is missing (install the Debian package samba)"
    if os.geteuid() != 0:
        return "the smbd fixture needs root (it creates a throwaway OS user)"
    return None


def _ensure_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True, capture_output=True
        )
        return pwd.getpwnam(name)


@dataclass
class SmbServer:
    """A running smbd: where it listens, who may log in, and the local directory behind its share."""

    host: str
    port: int
    user: str
    password: str
    share: str
    root: Path  # the share's directory on the local disk
    process: subprocess.Popen[bytes]
    uid: int
    gid: int

    def make_dir(self, rel: str) -> Path:
        """Create ``root/rel`` owned by the SMB user; return the local path."""
        path = self.root / rel
        path.mkdir(parents=True, exist_ok=True)
        parts = Path(rel).parts
        for depth in range(1, len(parts) + 1):
            os.chown(self.root.joinpath(*parts[:depth]), self.uid, self.gid)
        return path

    def put(self, rel: str, data: bytes, *, mtime: float | None = None) -> Path:
        """Create a file ``root/rel`` (owned by the SMB user) with ``data``; optionally set its mtime."""
        path = self.root / rel
        self.make_dir(str(Path(rel).parent))
        path.write_bytes(data)
        os.chown(path, self.uid, self.gid)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        return path

    def files(self, rel: str) -> dict[str, bytes]:
        """Every file under ``root/rel``: relative path -> content."""
        base = self.root / rel
        return {p.relative_to(base).as_posix(): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


def _config(workdir: Path, port: int, root: Path, user: str) -> str:
    dirs = {name: workdir / name for name in ("lock", "state", "cache", "pid", "private", "ncalrpc", "log")}
    for directory in dirs.values():
        directory.mkdir(parents=True, exist_ok=True)
    return "\n".join(
        [
            "[global]",
            "server role = standalone server",
            f"smb ports = {port}",
            "interfaces = lo",
            "bind interfaces only = yes",
            "disable netbios = yes",
            "server min protocol = NT1",  # pysmb negotiates with SMB1 first
            f"lock directory = {dirs['lock']}",
            f"state directory = {dirs['state']}",
            f"cache directory = {dirs['cache']}",
            f"pid directory = {dirs['pid']}",
            f"private dir = {dirs['private']}",
            f"ncalrpc dir = {dirs['ncalrpc']}",
            f"log file = {dirs['log']}/smbd.log",
            f"passdb backend = tdbsam:{dirs['private']}/passdb.tdb",
            "map to guest = never",
            "load printers = no",
            "printcap name = /dev/null",
            "disable spoolss = yes",
            "unix extensions = no",
            f"[{SHARE}]",
            f"path = {root}",
            "read only = no",
            f"valid users = {user}",
            "",
        ]
    )


@contextlib.contextmanager
def run_smbd(workdir: Path, *, user: str = SMB_USER, password: str = SMB_PASSWORD) -> Iterator[SmbServer]:
    """Start smbd on a free port with a private config and user database; stop it (and its children) on exit."""
    entry = _ensure_user(user)
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    root = workdir / "share"
    root.mkdir(exist_ok=True)
    os.chown(root, entry.pw_uid, entry.pw_gid)
    port = _free_port()
    config = workdir / "smb.conf"
    config.write_text(_config(workdir, port, root, user))
    subprocess.run(
        ["smbpasswd", "-c", str(config), "-a", "-s", user],
        input=f"{password}\n{password}\n",
        text=True,
        check=True,
        capture_output=True,
    )
    log = (workdir / "smbd.out").open("wb")
    proc = subprocess.Popen(
        ["smbd", "-s", str(config), "--foreground", "--no-process-group", "--debug-stdout"],
        stdout=log,
        stderr=log,
        start_new_session=True,  # smbd signals its process group on some exits: never the test run
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"smbd exited with {proc.returncode}: {(workdir / 'smbd.out').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        yield SmbServer("127.0.0.1", port, user, password, SHARE, root, proc, entry.pw_uid, entry.pw_gid)
    finally:
        _stop(proc)
        log.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop smbd and every process it forked (per-connection servers, helpers), by PID."""
    family = descendants_of(proc.pid)
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    for pid in family:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def smb_server() -> Iterator[SmbServer]:
    """One real smbd for the whole session (skips when smbd or root is unavailable)."""
    reason = smbd_unavailable_reason()
    if reason:
        pytest.skip(reason)
    workdir = Path(tempfile.mkdtemp(prefix="aetherflow-smbd-"))
    try:
        with run_smbd(workdir) as server:
            yield server
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def smb_dir(smb_server: SmbServer) -> Iterator[str]:
    """A fresh directory on the share for one test (its path inside the share); removed afterwards."""
    rel = f"t-{uuid.uuid4().hex[:12]}"
    path = smb_server.make_dir(rel)
    try:
        yield rel
    finally:
        shutil.rmtree(path, ignore_errors=True)
