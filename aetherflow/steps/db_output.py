"""Writing a DB step's output file: atomically (``<name>.tmp``, fsync, rename), hashed as it is written, in batches
of encoded lines, and counting rows as they go (stop requests, ``step_progress``)."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from aetherflow.api import Interrupted, StepContext

_BUFFER_SIZE = 1 << 20


class RowTally:
    """The rows written so far: after each batch the step stops if asked to and the progress meter is fed."""

    __slots__ = ("_cancelled", "_meter", "_step", "rows")

    def __init__(self, ctx: StepContext, step: str) -> None:
        self.rows = 0
        self._step = step
        self._cancelled = ctx.cancelled
        self._meter = ctx.progress("rows")

    def check(self) -> None:
        """Raise ``Interrupted`` when the step was asked to stop."""
        if self._cancelled.is_set():
            raise Interrupted(f"{self._step} stopped after {self.rows} row(s): stop requested")

    def batch(self, count: int) -> None:
        """Count a written batch of ``count`` rows."""
        self.rows += count
        self.check()
        self._meter.add(count)


class _HashingFileIO(io.FileIO):
    """A raw file that hashes exactly the bytes it writes (so the artifact's sha256 costs no second read) and counts
    them, for ``on_write`` (called once per buffer flush, never per row)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "w")
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.on_write: Callable[[int], None] | None = None

    def write(self, data: Any) -> int:
        written = super().write(data)
        if written:
            self.sha256.update(memoryview(data)[:written])
            self.size += written
            if self.on_write is not None:
                self.on_write(self.size)
        return written or 0


class AtomicOutput:
    """Write ``path`` through ``<name>.tmp``: fsync and rename on success, delete the temporary file on failure."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        self._raw: _HashingFileIO | None = None
        self.binary: BinaryIO = io.BytesIO()
        self.sha256 = ""

    def __enter__(self) -> AtomicOutput:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._raw = _HashingFileIO(self.tmp)
        self.binary = io.BufferedWriter(self._raw, buffer_size=_BUFFER_SIZE)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        raw = self._raw
        assert raw is not None
        if exc_type is not None:
            self._discard(raw)
            return
        try:
            self.binary.flush()
            # Durable before it becomes visible: a resumed run trusts a renamed artifact.
            os.fsync(raw.fileno())
            self.sha256 = raw.sha256.hexdigest()
            self.binary.close()
            os.replace(self.tmp, self.path)
        except BaseException:
            self._discard(raw)
            raise
        _fsync_dir(self.path.parent)

    def report_bytes(self, callback: Callable[[int], None] | None) -> None:
        """Hand the running count of bytes written to ``callback`` (None: stop), as each buffer reaches the file.

        For writers that report nothing themselves (the COPY fast path streams rows without counting them: a
        per-row counter would cost more than the rest of its loop)."""
        assert self._raw is not None
        self._raw.on_write = callback

    def _discard(self, raw: _HashingFileIO) -> None:
        try:
            self.binary.close()
        except OSError:
            raw.close()
        self.tmp.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LineBuffer(list[str]):
    """What the csv writers write one batch of lines into: ``write`` is ``list.append`` (no per-row I/O call);
    the batch is then encoded and written at once, which beats a ``TextIOWrapper`` on the hot path (bench/db.py)."""

    __slots__ = ()
    write = list.append

    def flush_to(self, out: BinaryIO, encoding: str) -> None:
        """Encode and write the collected lines, then forget them."""
        if self:
            out.write("".join(self).encode(encoding))
            self.clear()
