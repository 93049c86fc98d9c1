"""Wall-clock bounds for blocking socket exchanges.

A socket timeout bounds each read, so a peer that sends one byte just before every timeout keeps an exchange alive
for ever. ``Deadline`` bounds the whole exchange instead: it keeps a duplicate of every socket attached to it and shuts
them down when its time is up, so whatever blocks on them (TLS handshake, send, status line, headers, body) returns
at once. Duplicates, not the sockets themselves: a duplicate keeps the socket alive until the deadline closes, so the
watchdog can never shut down an unrelated socket that reused a closed descriptor number.

A shut-down socket can look like a peer that closed normally (headers cut short, a body without a length), so the
caller checks ``expired`` after the exchange and treats it as a timeout whatever the library returned.

Code deep inside an HTTP library finds the deadline of the current exchange with ``attach_socket``: the exchange
runs ``with Deadline(seconds):`` in the same thread.
"""

from __future__ import annotations

import contextvars
import socket
import threading
from types import TracebackType

_ACTIVE: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("aetherflow_deadline", default=None)


class Deadline:
    """Shuts down the attached sockets ``seconds`` after it starts (or after ``restart``); ``None``: no bound."""

    def __init__(self, seconds: float | None) -> None:
        self._lock = threading.Lock()
        self._watched: list[socket.socket] = []
        self._timer: threading.Timer | None = None
        self._expired = False
        self._closed = False
        self._phase = 0  # a timer of an earlier phase that fires late must not expire this one
        self._token: contextvars.Token[Deadline | None] | None = None
        self._arm(seconds)

    @property
    def expired(self) -> bool:
        """True once the time was up (the attached sockets were shut down then)."""
        with self._lock:
            return self._expired

    def attach(self, sock: socket.socket) -> None:
        """Watch ``sock`` (a plain or TLS socket) until the deadline closes; shut it down now if time is up."""
        try:
            watcher = socket.fromfd(sock.fileno(), sock.family, sock.type)
        except (OSError, ValueError):
            return  # already closed: nothing left to bound
        with self._lock:
            if self._closed:
                watcher.close()
                return
            self._watched.append(watcher)
            if self._expired:
                _shut(watcher)

    def restart(self, seconds: float | None) -> None:
        """Start a new phase of the exchange (e.g. the body after the headers) with its own bound."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._expired = False
            self._phase += 1
        self._arm(seconds)

    def close(self) -> None:
        """Stop watching; the sockets stay open for their owners."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            watched, self._watched = self._watched, []
        for watcher in watched:
            watcher.close()

    def __enter__(self) -> Deadline:
        self._token = _ACTIVE.set(self)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._token is not None:
            _ACTIVE.reset(self._token)
            self._token = None
        self.close()

    def _arm(self, seconds: float | None) -> None:
        if seconds is None:
            return
        with self._lock:
            if self._closed:
                return
            timer = threading.Timer(max(0.0, seconds), self._expire, args=(self._phase,))
            timer.daemon = True
            self._timer = timer
        timer.start()

    def _expire(self, phase: int) -> None:
        with self._lock:
            if self._closed or phase != self._phase:
                return
            self._expired = True
            for watcher in self._watched:
                _shut(watcher)


def attach_socket(sock: socket.socket) -> None:
    """Attach ``sock`` to the deadline of the exchange running in this thread, if there is one."""
    deadline = _ACTIVE.get()
    if deadline is not None:
        deadline.attach(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # the peer or the owner closed it first
