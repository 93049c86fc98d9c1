"""Row batches straight from a DBAPI cursor: what every DB connector's ``fetch_batches`` hands to the steps.

The cursor's own ``fetchmany`` tuples go to the writer unchanged (no per-row wrapper objects), so a connector costs
no more per row than a plain ``csv.writer`` over ``fetchmany`` would.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any

Row = Sequence[Any]
Batches = Generator[list[Row], None, None]


def cursor_batches(
    cursor: Any,
    fetch_size: int,
    *,
    errors: tuple[type[BaseException], ...],
    fail: Callable[[BaseException], BaseException],
    release: Callable[[], None],
    first: list[Row] | None = None,
) -> Batches:
    """Lists of at most ``fetch_size`` rows until the cursor is exhausted (``first``: a batch fetched already).

    A driver error in ``errors`` is raised as ``fail(error)``; ``release`` runs exactly once, when the iterator is
    exhausted, fails or is closed early (``batches.close()``), also if it was never started.
    """
    return _batches(cursor, fetch_size, errors, fail, _Once(release), first)


class _Once:
    """``release`` at most once; a generator closed before its first ``next`` never runs its ``finally``."""

    def __init__(self, release: Callable[[], None]) -> None:
        self._release: Callable[[], None] | None = release

    def __call__(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()

    def __del__(self) -> None:
        self()


def _batches(
    cursor: Any,
    fetch_size: int,
    errors: tuple[type[BaseException], ...],
    fail: Callable[[BaseException], BaseException],
    release: _Once,
    first: list[Row] | None,
) -> Batches:
    try:
        if first:
            yield first
        fetchmany = cursor.fetchmany
        while True:
            batch = fetchmany(fetch_size)
            if not batch:
                return
            yield batch if isinstance(batch, list) else list(batch)
    except GeneratorExit:
        raise
    except errors as exc:
        raise fail(exc) from exc
    finally:
        release()


def sqlite_file_of(url: str) -> str | None:
    """The database file of a plain SQLite URL (``sqlite:///<path>``, ``sqlite+pysqlite:///<path>``), else None.

    Such a URL needs nothing SQLAlchemy adds: its queries can run on the stdlib driver without importing SQLAlchemy
    (about 20 MiB and a noticeable start-up cost per process). In-memory databases (their pool keeps the data alive)
    and URLs with query options stay with SQLAlchemy.
    """
    for prefix in ("sqlite:///", "sqlite+pysqlite:///"):
        if url.startswith(prefix):
            path = url[len(prefix) :]
            if not path or path == ":memory:" or "?" in path or path.startswith("file:"):
                return None
            return path
    return None


def bind_params(compiled: Any, params: Mapping[str, Any] | None) -> Any:
    """The driver arguments of a compiled ``text()`` statement: a tuple for positional paramstyles, else a dict."""
    values = compiled.construct_params(dict(params or {}))
    if compiled.positiontup is not None:
        return tuple(values[name] for name in compiled.positiontup)
    return values
