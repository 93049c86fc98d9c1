"""A hostile peer on 127.0.0.1: it accepts connections, reads the request and answers one byte at a time.

A socket timeout bounds each read, so a peer that sends a byte before every timeout keeps a careless client waiting
for ever; clients must bound the whole exchange. ``dripping_server`` sends ``prefix`` at once (e.g. complete headers,
to drip only the body), then ``drip`` one byte every ``interval`` seconds, then keeps the connection open and silent.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class DripServer:
    """The server's base URL (``http://127.0.0.1:<port>``) and how many connections it accepted."""

    url: str
    port: int
    accepted: list[socket.socket] = field(default_factory=list)


#: a status line and a header that never ends: what a client waiting for the headers keeps reading
ENDLESS_HEADERS = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100_000
#: the start of a TLS handshake record announcing 16 KiB that never all come
ENDLESS_TLS_RECORD = b"\x16\x03\x03\x40\x00" + b"\x02" * 100_000


@contextlib.contextmanager
def dripping_server(drip: bytes, *, prefix: bytes = b"", interval: float = 1.0) -> Iterator[DripServer]:
    """Start the server; stop it (closing every connection) when the block ends."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    stop = threading.Event()
    port = listener.getsockname()[1]
    server = DripServer(f"http://127.0.0.1:{port}", port)
    workers: list[threading.Thread] = []

    def serve(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.settimeout(0.5)
            with contextlib.suppress(TimeoutError):
                conn.recv(65536)  # the request (or a TLS ClientHello); its content does not matter
            conn.sendall(prefix)
            for byte in drip:
                if stop.wait(interval):
                    return
                conn.sendall(bytes([byte]))
            stop.wait()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            server.accepted.append(conn)
            worker = threading.Thread(target=serve, args=(conn,), name="drip-conn", daemon=True)
            worker.start()
            workers.append(worker)

    acceptor = threading.Thread(target=accept, name="drip-accept", daemon=True)
    acceptor.start()
    try:
        yield server
    finally:
        stop.set()
        acceptor.join(timeout=5)
        for conn in server.accepted:
            with contextlib.suppress(OSError):
                conn.close()
        for worker in workers:
            worker.join(timeout=5)
        listener.close()
