"""A real PostgreSQL server for the test session (Debian's postgresql package), on 127.0.0.1 and a free port.

``postgres_server`` starts one throwaway cluster per session (``initdb`` + ``pg_ctl``, as the ``postgres`` OS user when
the tests run as root, since PostgreSQL refuses to run as root); ``postgres`` hands a test that server with an empty
``public`` schema. Password authentication over TCP, ``fsync=off``: a test server, never a data store.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

START_ATTEMPTS = 3


@dataclass(frozen=True)
class PostgresServer:
    """Where the test server listens and how to log in."""

    host: str
    port: int
    user: str
    password: str
    dbname: str
    bin_dir: Path
    socket_dir: Path

    def url(self, driver: str = "postgresql+psycopg", *, password: str | None = None) -> str:
        """A SQLAlchemy URL for the test database (``driver`` e.g. ``postgresql+psycopg2``)."""
        secret = quote(self.password if password is None else password, safe="")
        return f"{driver}://{self.user}:{secret}@{self.host}:{self.port}/{self.dbname}"

    def connect(self, **kwargs: Any) -> Any:
        """A psycopg 3 connection (autocommit) to the test database."""
        import psycopg

        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.dbname,
            autocommit=True,
            connect_timeout=5,
            **kwargs,
        )

    def execute(self, *statements: str) -> None:
        """Run SQL statements in one autocommit session."""
        with self.connect() as conn:
            for statement in statements:
                conn.execute(statement.encode())


def find_postgres_bin_dir() -> Path | None:
    """The newest installed PostgreSQL server bin dir holding ``initdb`` and ``pg_ctl``, or None."""
    candidates = sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")),
        key=lambda p: [int(x) if x.isdigit() else x for x in p.parent.name.split(".")],
    )
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for bin_dir in reversed(candidates):
        if (bin_dir / "initdb").exists() and (bin_dir / "pg_ctl").exists():
            return bin_dir
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_server_user(argv: list[str], user: str | None) -> list[str]:
    return ["runuser", "-u", user, "--", *argv] if user else argv


def _start(bin_dir: Path, base: Path, user: str | None, password: str) -> tuple[int, Path]:
    data = base / "data"
    pwfile = base / "pw"
    pwfile.write_text(password + "\n")
    if user:
        shutil.chown(pwfile, user)
    initdb = [
        str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", f"--pwfile={pwfile}",
        "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
    ]  # fmt: skip
    subprocess.run(_as_server_user(initdb, user), check=True, capture_output=True, timeout=120)
    pwfile.unlink()
    last_error = ""
    for _ in range(START_ATTEMPTS):
        port = free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=50"
        )
        start = [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(base / "pg.log"), "-w", "-t", "60", "-o", options]
        done = subprocess.run(_as_server_user([*start, "start"], user), capture_output=True, text=True, timeout=90)
        if done.returncode == 0:
            return port, data
        # Another process may have taken the port between free_port() and the bind: try another one.
        last_error = done.stderr + (base / "pg.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"PostgreSQL did not start after {START_ATTEMPTS} attempts: {last_error}")


def _stop(bin_dir: Path, data: Path, user: str | None) -> None:
    stop = [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "30", "stop"]
    done = subprocess.run(_as_server_user(stop, user), capture_output=True, timeout=60)
    pid_file = data / "postmaster.pid"
    if done.returncode != 0 and pid_file.exists():
        with contextlib.suppress(ValueError, ProcessLookupError, OSError):
            os.kill(int(pid_file.read_text().splitlines()[0]), signal.SIGKILL)


class PostgresUnavailable(Exception):
    """The machine cannot run a PostgreSQL server (binaries or the 'postgres' OS user are missing)."""


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Start a throwaway PostgreSQL cluster, yield it, then stop it and delete its files (also used by bench/db.py)."""
    bin_dir = find_postgres_bin_dir()
    if bin_dir is None:
        raise PostgresUnavailable("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    user: str | None = None
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: run it as the 'postgres' account the Debian package creates.
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable(
                "running as root and there is no 'postgres' OS user to run the server as"
            ) from None
        user = "postgres"
    # Not under pytest's tmp dir: its root-only (0700) parents would keep the 'postgres' user out.
    base = Path(tempfile.mkdtemp(prefix="aetherflow-pg-"))
    if user:
        shutil.chown(base, user, user)
    base.chmod(0o700)
    password = secrets.token_urlsafe(12)
    data: Path | None = None
    try:
        port, data = _start(bin_dir, base, user, password)
        server = PostgresServer("127.0.0.1", port, "postgres", password, "postgres", bin_dir, base)
        _wait_ready(server)
        yield server
    finally:
        if data is not None:
            _stop(bin_dir, data, user)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the whole session; skipped only when the server binaries are not installed."""
    try:
        with running_postgres() as server:
            yield server
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))


def _wait_ready(server: PostgresServer, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            server.execute("SELECT 1")
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture
def postgres(postgres_server: PostgresServer) -> PostgresServer:
    """The session's PostgreSQL server with an empty ``public`` schema."""
    postgres_server.execute("DROP SCHEMA IF EXISTS public CASCADE", "CREATE SCHEMA public")
    return postgres_server
