"""A bundle asset service for the ``rest`` source: ``GET /list`` and ``GET /fetch`` over a real HTTP server.

``/list?bundle=B&prefix=P`` answers ``{"files": [{path, sha256, size, mtime}]}`` for bundle B's files under P;
``/fetch?bundle=B&path=X`` answers the bytes. ``hold(path)`` makes fetches of that path wait until ``release()``,
so a test can stop a sync in the middle of its downloads.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class AssetService:
    """The files served, per bundle, and the fetches seen."""

    url: str = ""
    bundles: dict[str, dict[str, bytes]] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)
    held: str | None = None
    hold_reached: threading.Event = field(default_factory=threading.Event)
    hold_release: threading.Event = field(default_factory=threading.Event)

    def hold(self, path: str) -> None:
        """Make fetches of ``path`` block until ``release``."""
        self.held = path
        self.hold_reached.clear()
        self.hold_release.clear()

    def release(self) -> None:
        self.held = None
        self.hold_release.set()

    def listing(self, bundle: str, prefix: str) -> dict[str, Any]:
        files = self.bundles.get(bundle, {})
        return {
            "files": [
                {"path": p, "sha256": hashlib.sha256(d).hexdigest(), "size": len(d), "mtime": 1700000000.5}
                for p, d in sorted(files.items())
                if p.startswith(prefix)
            ]
        }


def _handler(service: AssetService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            bundle = query.get("bundle", "")
            if parts.path == "/list":
                body = json.dumps(service.listing(bundle, query.get("prefix", ""))).encode()
                self._send(200, body, "application/json")
                return
            if parts.path == "/fetch":
                path = query.get("path", "")
                data = service.bundles.get(bundle, {}).get(path)
                if data is None:
                    self._send(404, b"{}", "application/json")
                    return
                if service.held == path:
                    service.hold_reached.set()
                    service.hold_release.wait(60)
                service.fetched.append(path)
                self._send(200, data, "application/octet-stream")
                return
            self._send(404, b"{}", "application/json")

    return Handler


@contextmanager
def running_asset_service() -> Iterator[AssetService]:
    """The service on a free port of 127.0.0.1, stopped on exit."""
    service = AssetService()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(service))
    server.daemon_threads = True
    service.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield service
    finally:
        service.release()
        server.shutdown()
        server.server_close()
