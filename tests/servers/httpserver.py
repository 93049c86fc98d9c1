"""A small real HTTP(S) server on 127.0.0.1 for the ``http_request`` tests (threaded ``http.server``).

Endpoints:
  ``/status/<code>``                   answers ``<code>`` with a JSON body
  ``/echo``                            any method; JSON of method, path, query, headers and the request body
  ``/flaky/<key>?fail=N&status=S``     answers S (default 503) to the first N requests for <key>, then 200
  ``/slow?seconds=S``                  waits S seconds before answering
  ``/bytes?n=N``                       N bytes of a repeating pattern (application/octet-stream)
  ``/text?charset=C``                  a short non-ASCII text in charset C
  ``/redirect?to=URL&status=S``       S (default 302) to URL (a path, or a URL of another server)
  ``/loop``                            302 to itself, for ever
  ``/bounce/...``                      302 to ``/echo`` of the other server (any method, any path below)
  ``/drop``                            closes the connection without answering
The HTTPS twin uses the self-signed certificate of ``tests.servers.smtp`` (its CA file is ``ca_file``); a second
plain server (``other_url``, another port: another origin) answers the same endpoints, for cross-origin redirects.
Each recorded request carries the ``port`` of the server that received it.
"""

from __future__ import annotations

import json
import ssl
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

PATTERN = bytes(range(256))


def pattern_bytes(n: int) -> bytes:
    """The body ``/bytes?n=N`` sends."""
    return (PATTERN * (n // len(PATTERN) + 1))[:n]


@dataclass
class HttpServerState:
    """Counters for ``/flaky`` and the requests seen, shared by the handler threads."""

    hits: Counter[str] = field(default_factory=Counter)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    other_url: str = ""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: HttpServerState

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Test-Server", "aetherflow")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: Any) -> None:
        self._reply(status, json.dumps(payload).encode())

    def _handle(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with self.state.lock:
            self.state.requests.append(
                {
                    "method": self.command,
                    "path": url.path,
                    "query": url.query,
                    "headers": dict(self.headers),
                    "port": self.server.server_address[1],
                    "body": body,
                }
            )
        parts = url.path.strip("/").split("/")
        if parts[0] == "status" and len(parts) == 2:
            self._json(int(parts[1]), {"status": int(parts[1])})
        elif parts[0] == "echo":
            self._json(
                200,
                {
                    "method": self.command,
                    "path": url.path,
                    "query": parse_qs(url.query, keep_blank_values=True),
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body.decode("utf-8", "replace"),
                },
            )
        elif parts[0] == "flaky" and len(parts) == 2:
            with self.state.lock:
                self.state.hits[parts[1]] += 1
                hit = self.state.hits[parts[1]]
            if hit <= int(query.get("fail", "1")):
                self._json(int(query.get("status", "503")), {"attempt": hit, "ok": False})
            else:
                self._json(200, {"attempt": hit, "ok": True})
        elif parts[0] == "slow":
            time.sleep(float(query.get("seconds", "1")))
            self._json(200, {"slow": True})
        elif parts[0] == "bytes":
            self._reply(200, pattern_bytes(int(query["n"])), "application/octet-stream")
        elif parts[0] == "text":
            charset = query.get("charset", "utf-8")
            self._reply(200, "Grüße, señor".encode(charset), f"text/plain; charset={charset}")
        elif parts[0] == "redirect":
            self.send_response(int(query.get("status", "302")))
            self.send_header("Location", query["to"])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif parts[0] == "bounce":
            self.send_response(302)
            self.send_header("Location", f"{self.state.other_url}/echo")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif parts[0] == "loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif parts[0] == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
        else:
            self._json(404, {"error": "not found"})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gives up (a timeout, an error status it does not read) is what several tests do on purpose.
        return


@dataclass
class HttpTestServer:
    """Running servers: base URLs and the shared state."""

    url: str
    https_url: str
    other_url: str
    ca_file: Path
    state: HttpServerState

    def requests_to(self, url: str, path: str) -> list[dict[str, Any]]:
        """The requests the server at ``url`` received for ``path``."""
        port = urlsplit(url).port
        with self.state.lock:
            return [r for r in self.state.requests if r["port"] == port and r["path"] == path]

    def hits(self, key: str) -> int:
        """How many requests ``/flaky/<key>`` has seen."""
        with self.state.lock:
            return self.state.hits[key]


def _serve(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return thread


@pytest.fixture(scope="session")
def http_server() -> Iterator[HttpTestServer]:
    """Two plain servers and one HTTPS server for the session, on free ports of 127.0.0.1."""
    from tests.servers.smtp import make_self_signed_cert  # here: plugins must not import each other at load

    state = HttpServerState()
    handler = type("Handler", (_Handler,), {"state": state})
    with tempfile.TemporaryDirectory(prefix="aetherflow-http-") as tmp:
        cert, key = make_self_signed_cert(Path(tmp))
        plain = _Server(("127.0.0.1", 0), handler)
        secure = _Server(("127.0.0.1", 0), handler)
        other = _Server(("127.0.0.1", 0), handler)
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert, key)
        secure.socket = tls.wrap_socket(secure.socket, server_side=True)
        state.other_url = f"http://127.0.0.1:{other.server_address[1]}"
        threads = [_serve(plain), _serve(secure), _serve(other)]
        try:
            yield HttpTestServer(
                url=f"http://127.0.0.1:{plain.server_address[1]}",
                https_url=f"https://127.0.0.1:{secure.server_address[1]}",
                other_url=f"http://127.0.0.1:{other.server_address[1]}",
                ca_file=cert,
                state=state,
            )
        finally:
            for server in (plain, secure, other):
                server.shutdown()
                server.server_close()
            for thread in threads:
                thread.join(timeout=5)
