"""Reading an ``external.process`` child's output pipes: each line logged as an event, the first bytes captured.

Memory stays bounded whatever the child prints: a reader holds at most one line piece and one read chunk, and a
capture at most its limit. The readers never block the runner: they poll, so a stop ends them even while a process
that escaped the step's process group still holds the pipe open.
"""

from __future__ import annotations

import os
import select
import subprocess
import threading
import time
from collections.abc import Callable
from typing import IO, Literal

from aetherflow.api import CancelToken, StepContext

__all__ = ["MAX_LINE_BYTES", "Capture", "LineReader", "OutputReaders"]

POLL_SECONDS = 0.2  # how often a wait looks at the cancellation token and the deadline
READ_CHUNK = 64 * 1024
MAX_LINE_BYTES = 64 * 1024  # a longer line is logged in pieces of at most this many bytes
_UTF8_CONTINUATION_MASK = 0xC0
_UTF8_CONTINUATION = 0x80
_STREAMS = (("stdout", "INFO"), ("stderr", "WARNING"))

ReadState = Literal["drained", "timeout", "cancelled"]


class Capture:
    """The first ``limit`` bytes of a stream; when the stream was longer, cut before any partial secret at the end."""

    def __init__(self, limit: int, cut: Callable[[str, int], str]) -> None:
        self._limit = limit
        self._cut = cut
        self._data = bytearray()
        self._truncated = False

    def keep(self, chunk: bytes) -> None:
        room = self._limit - len(self._data)
        if room > 0:
            self._data += chunk[:room]
        self._truncated = self._truncated or len(chunk) > room

    def value(self) -> bytes:
        if not self._truncated:
            return bytes(self._data)
        return safe_head(bytes(self._data), len(self._data), self._cut)


def safe_head(data: bytes, limit: int, cut: Callable[[str, int], str]) -> bytes:
    """The first ``limit`` bytes of ``data``, shortened so that they never end with the beginning of a secret."""
    text = data[:limit].decode("utf-8", errors="surrogateescape")  # round-trips any bytes
    return cut(text, len(text)).encode("utf-8", errors="surrogateescape")


class LineReader(threading.Thread):
    """Drains one pipe: keeps the first bytes in a capture buffer (if any) and hands every line to ``on_line``."""

    def __init__(
        self,
        pipe: IO[bytes],
        capture: Capture | None,
        on_line: Callable[[str], None],
        stop: threading.Event,
        cut: Callable[[str, int], str],
    ) -> None:
        super().__init__(name="external-process-reader", daemon=True)
        self._pipe = pipe
        self._cut = cut
        self.capture = capture
        self._on_line = on_line
        self._stop_reading = stop

    def run(self) -> None:
        fd = self._pipe.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLPRI)
        pending = bytearray()
        # Poll instead of blocking reads: a process that escaped the process group may hold the pipe open,
        # and a stop must still end this thread.
        while not self._stop_reading.is_set():
            if not poller.poll(int(POLL_SECONDS * 1000)):
                continue
            try:
                chunk = os.read(fd, READ_CHUNK)
            except OSError:  # the pipe went away under us: nothing more can be read
                break
            if not chunk:
                break
            if self.capture is not None:
                self.capture.keep(chunk)
            pending += chunk
            self._emit_lines(pending)
        if pending:
            self._emit(bytes(pending))

    def _emit_lines(self, pending: bytearray) -> None:
        start = 0
        while (end := pending.find(b"\n", start)) >= 0:
            self._emit(bytes(pending[start:end]))
            start = end + 1
        del pending[:start]
        while len(pending) > MAX_LINE_BYTES:
            # A piece never splits a UTF-8 character, nor ends inside a secret: the secret's start stays pending
            # and is logged whole, masked.
            end = _piece_end(pending, MAX_LINE_BYTES)
            piece = safe_head(bytes(pending), end, self._cut) or bytes(pending[:end])
            self._emit(piece)
            del pending[: len(piece)]

    def _emit(self, raw: bytes) -> None:
        try:
            self._on_line(raw.decode("utf-8", errors="replace").removesuffix("\r"))
        except Exception:  # noqa: BLE001 (a logging failure must not stop draining, or the child blocks on a full pipe)
            return


def _piece_end(data: bytearray, limit: int) -> int:
    """Where to cut ``data`` (longer than ``limit``) so that no UTF-8 character is split across two pieces."""
    end = limit
    # A UTF-8 character has at most three continuation bytes; binary data with more is cut at the limit - 3.
    while end > limit - 3 and data[end] & _UTF8_CONTINUATION_MASK == _UTF8_CONTINUATION:
        end -= 1
    return end


class OutputReaders:
    """The reader threads of one process attempt, one per piped stream."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self._readers: dict[str, LineReader] = {}

    def start(self, proc: subprocess.Popen[bytes], ctx: StepContext, captured: dict[str, int]) -> None:
        """One reader per piped stream of ``proc``; ``captured``: the streams whose first bytes are kept, and how many.

        Each line is masked here, through ``ctx.redact``, before it becomes an event field.
        """
        for name, level in _STREAMS:
            pipe = proc.stdout if name == "stdout" else proc.stderr
            if pipe is None:
                continue
            event = f"external_process_{name}"

            def on_line(line: str, event: str = event, level: str = level) -> None:
                ctx.emit(event, level=level, message=ctx.redact(line))

            capture = Capture(captured[name], ctx.truncate) if name in captured else None
            reader = LineReader(pipe, capture, on_line, self.stop, ctx.truncate)
            self._readers[name] = reader  # registered before it starts, so cleanup always sees it
            reader.start()

    def captured(self, name: str) -> bytes | None:
        """The kept bytes of stream ``name``, or None when it was not captured."""
        reader = self._readers.get(name)
        return None if reader is None or reader.capture is None else reader.capture.value()

    def wait(self, deadline: float | None, cancelled: CancelToken, group_alive: Callable[[], bool]) -> ReadState:
        """Wait until every pipe reached its end, the deadline passed or a stop was requested.

        The child has exited; a background process of its group that still runs keeps the pipe open, and the step
        waits for it as ``subprocess.run`` would. Once the group is empty, whatever still holds the pipe left the
        group and is not the step's: the readers get one more poll interval to drain, then stop.
        """
        orphaned_at: float | None = None
        for reader in self._readers.values():
            while reader.is_alive():
                if cancelled.is_set():
                    return "cancelled"
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    return "timeout"
                if orphaned_at is None and not group_alive():
                    orphaned_at = now
                if orphaned_at is not None and now - orphaned_at >= POLL_SECONDS:
                    self.finish(0.0)
                    return "drained"
                slice_seconds = POLL_SECONDS if deadline is None else min(POLL_SECONDS, deadline - now)
                reader.join(slice_seconds)
        # A stop that came while the step still waited for its output (and ended it) is a stop, not a success.
        return "cancelled" if cancelled.is_set() else "drained"

    def finish(self, drain_seconds: float) -> None:
        """Give the readers ``drain_seconds`` to reach the ends of their pipes, then stop them and wait for them."""
        deadline = time.monotonic() + drain_seconds
        for reader in self._readers.values():
            reader.join(max(0.0, deadline - time.monotonic()))
        self.stop.set()
        for reader in self._readers.values():
            reader.join()
