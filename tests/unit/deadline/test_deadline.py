"""``Deadline``: a watchdog that shuts attached sockets down when an exchange's time is up."""

from __future__ import annotations

import socket
import threading
import time

from aetherflow.deadline import Deadline, attach_socket


def _pair() -> tuple[socket.socket, socket.socket]:
    ours, peer = socket.socketpair()
    ours.settimeout(5)
    return ours, peer


def test_a_blocked_read_returns_when_the_time_is_up() -> None:
    ours, peer = _pair()
    with peer, ours, Deadline(0.3) as deadline:
        deadline.attach(ours)
        began = time.monotonic()

        data = ours.recv(10)  # the peer never writes

        assert data == b""
        assert deadline.expired
        assert 0.25 <= time.monotonic() - began < 2


def test_a_peer_dripping_bytes_cannot_stretch_the_deadline() -> None:
    ours, peer = _pair()
    stop = threading.Event()

    def drip() -> None:
        while not stop.wait(0.05):
            try:
                peer.send(b"x")
            except OSError:
                return

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    with peer, ours, Deadline(0.4) as deadline:
        deadline.attach(ours)
        began = time.monotonic()
        while ours.recv(1):  # each byte arrives well inside the 5 s socket timeout
            pass
        elapsed = time.monotonic() - began
        stop.set()
    dripper.join(timeout=5)

    assert deadline.expired
    assert elapsed < 2


def test_the_socket_stays_usable_when_the_exchange_ends_in_time() -> None:
    ours, peer = _pair()
    with peer, ours:
        with Deadline(0.2) as deadline:
            deadline.attach(ours)
        time.sleep(0.4)
        peer.sendall(b"still open")

        assert ours.recv(32) == b"still open"
        assert not deadline.expired


def test_a_socket_attached_after_the_time_is_up_is_shut_down_at_once() -> None:
    ours, peer = _pair()
    with peer, ours, Deadline(0.0) as deadline:
        time.sleep(0.1)
        deadline.attach(ours)

        assert ours.recv(10) == b""


def test_restart_gives_the_next_phase_its_own_bound_and_none_means_unbounded() -> None:
    ours, peer = _pair()
    with peer, ours, Deadline(0.2) as deadline:
        deadline.attach(ours)
        deadline.restart(None)
        time.sleep(0.4)
        peer.sendall(b"body")

        assert ours.recv(10) == b"body"
        assert not deadline.expired


def test_attach_socket_finds_the_deadline_of_the_running_exchange_only() -> None:
    inside, inside_peer = _pair()
    outside, outside_peer = _pair()
    with inside, inside_peer, outside, outside_peer:
        attach_socket(outside)  # no exchange running: nothing to attach to
        with Deadline(0.2):
            attach_socket(inside)
            time.sleep(0.4)
        outside_peer.sendall(b"untouched")

        assert inside.recv(10) == b""
        assert outside.recv(10) == b"untouched"


def test_a_closed_socket_is_ignored() -> None:
    ours, peer = _pair()
    ours.close()
    peer.close()
    with Deadline(0.1) as deadline:
        deadline.attach(ours)
        time.sleep(0.2)

    assert deadline.expired
