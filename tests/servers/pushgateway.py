"""A real Prometheus Pushgateway (Debian's ``prometheus-pushgateway``) on 127.0.0.1 and a free port.

``pushgateway_server`` starts one gateway per session (it is ready in milliseconds, but there is no reason to start
more); ``pushgateway`` hands a test that gateway with every group wiped (admin API). Also: ``dead_gateway_url``, a
closed port, and ``hanging_gateway_url``, a socket that accepts connections and never answers.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BINARY = "prometheus-pushgateway"
READY_TIMEOUT_SECONDS = 15.0
START_ATTEMPTS = 3


@dataclass(frozen=True)
class Pushgateway:
    """A running gateway and helpers to read back what was pushed."""

    url: str
    basic_auth: tuple[str, str] | None = None

    def _get(self, path: str, method: str = "GET") -> bytes:
        req = urllib.request.Request(f"{self.url}{path}", method=method)
        if self.basic_auth is not None:
            token = base64.b64encode(f"{self.basic_auth[0]}:{self.basic_auth[1]}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(req, timeout=5) as resp:
            body: bytes = resp.read()
        return body

    def groups(self) -> list[dict[str, Any]]:
        """``GET /api/v1/metrics``: one entry per group with its labels and metric families."""
        data: list[dict[str, Any]] = json.loads(self._get("/api/v1/metrics"))["data"]
        return data

    def exposition(self) -> str:
        """``GET /metrics``: the text exposition of everything pushed (plus the gateway's own metrics)."""
        return self._get("/metrics").decode()

    def samples(self, family: str) -> dict[tuple[tuple[str, str], ...], float]:
        """Every sample of ``family`` as {sorted label pairs: value}, from ``/metrics``."""
        from prometheus_client.parser import text_string_to_metric_families

        out: dict[tuple[tuple[str, str], ...], float] = {}
        for fam in text_string_to_metric_families(self.exposition()):
            for sample in fam.samples:
                if sample.name == family:
                    out[tuple(sorted(sample.labels.items()))] = sample.value
        return out

    def wipe(self) -> None:
        """Delete every group (admin API)."""
        self._get("/api/v1/admin/wipe", method="PUT")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ready(url: str, basic_auth: tuple[str, str] | None = None) -> bool:
    try:
        Pushgateway(url, basic_auth)._get("/-/ready")
    except OSError:
        return False
    return True


@contextlib.contextmanager
def running_pushgateway(basic_auth: tuple[str, str] | None = None) -> Iterator[Pushgateway]:
    """Start a gateway with a throwaway persistence file, yield it, stop it by PID.

    ``basic_auth=(user, password)`` makes the gateway require HTTP Basic auth (web config file, bcrypt hash).
    """
    binary = shutil.which(BINARY)
    if binary is None:
        raise FileNotFoundError(f"{BINARY} not found: apt-get install -y prometheus-pushgateway")
    data = Path(tempfile.mkdtemp(prefix="aetherflow-pushgw-"))
    extra: list[str] = []
    if basic_auth is not None:
        import bcrypt

        user, password = basic_auth
        digest = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
        (data / "web.yml").write_text(f"basic_auth_users:\n  {user}: '{digest}'\n")
        extra.append(f"--web.config.file={data / 'web.yml'}")
    try:
        for _ in range(START_ATTEMPTS):
            url = f"http://127.0.0.1:{free_port()}"
            proc = subprocess.Popen(
                [binary, f"--web.listen-address={url.removeprefix('http://')}", "--web.enable-admin-api",
                 f"--persistence.file={data / 'pushgw.db'}", "--log.level=warn", *extra],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            deadline = time.monotonic() + READY_TIMEOUT_SECONDS
            while proc.poll() is None and not _ready(url, basic_auth) and time.monotonic() < deadline:
                time.sleep(0.02)
            if proc.poll() is None and _ready(url, basic_auth):
                try:
                    yield Pushgateway(url, basic_auth)
                finally:
                    proc.terminate()
                    try:
                        proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(timeout=10)
                return
            # Another process may have taken the port between free_port() and the bind: try another one.
            proc.kill()
            proc.wait(timeout=10)
        raise RuntimeError(f"{BINARY} did not become ready after {START_ATTEMPTS} attempts")
    finally:
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="session")
def pushgateway_server() -> Iterator[Pushgateway]:
    """One Pushgateway for the whole session; skipped only when the binary is not installed."""
    try:
        with running_pushgateway() as gateway:
            yield gateway
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture
def pushgateway(pushgateway_server: Pushgateway) -> Pushgateway:
    """The session's Pushgateway with no group in it."""
    pushgateway_server.wipe()
    return pushgateway_server


@pytest.fixture
def dead_gateway_url() -> str:
    """A gateway URL on a port where nothing listens (connection refused)."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def hanging_gateway_url() -> Iterator[str]:
    """A gateway URL whose server accepts connections and reads requests but never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            held.append(conn)  # keep it open and silent

    thread = threading.Thread(target=accept, name="hanging-gateway", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        server.close()
