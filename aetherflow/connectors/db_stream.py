"""Row batches straight from a DBAPI cursor: what every DB connector's ``fetch_batches`` hands to the steps.

The cursor's own ``fetchmany`` tuples go to the writer unchanged (no per-row wrapper objects), so a connector costs
no more per row than a plain ``csv.writer`` over ``fetchmany`` would.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
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
) -> Batches:
    """Lists of at most ``fetch_size`` rows until the cursor is exhausted.

    A driver error in ``errors`` is raised as ``fail(error)``; ``release`` runs exactly once, when the iterator is
    exhausted, fails or is closed early (``batches.close()``).
    """
    try:
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
