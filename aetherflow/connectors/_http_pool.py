"""urllib3 pools whose connections attach their sockets to the running request's ``Deadline``.

urllib3's timeouts bound each socket operation; a server that drips its TLS handshake, status line or headers one byte
at a time never trips them. Every socket these pools open, and every pooled socket they reuse, is attached to the
deadline of the request running in this thread, which shuts it down when the request's time is up.

Imported only by the ``rest`` connector when it sends its first request (urllib3 loads here).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from aetherflow.api import ConnectorError, attach_socket


class _WatchedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        attach_socket(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:  # a pooled connection: its socket predates this request
            attach_socket(self.sock)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(_WatchedHTTPConnection, HTTPSConnection):
    """Attaches the raw socket before the TLS handshake, which a slow server can stretch as well."""


class _WatchedPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedTlsPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


def pool_manager(verify: bool | str, resource: str) -> urllib3.PoolManager:
    """A pool manager verifying TLS with the system CAs (``True``), a CA bundle (a path) or not at all (``False``)."""
    if verify is False:
        manager = urllib3.PoolManager(num_pools=8, maxsize=8, cert_reqs="CERT_NONE")
    elif isinstance(verify, str) and verify:
        if not Path(verify).is_file():
            raise ConnectorError(f"REST resource '{resource}': options.verify_ssl CA bundle not found: {verify}")
        manager = urllib3.PoolManager(num_pools=8, maxsize=8, cert_reqs="CERT_REQUIRED", ca_certs=verify)
    else:
        manager = urllib3.PoolManager(num_pools=8, maxsize=8, cert_reqs="CERT_REQUIRED")
    manager.pool_classes_by_scheme = {"http": _WatchedPool, "https": _WatchedTlsPool}
    return manager
