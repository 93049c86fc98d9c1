"""Local-file helpers shared by the built-in connectors.

Only the standard library: connectors stay plugins.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replaced_when_done(local_path: Path) -> Iterator[Path]:
    """Yield ``<name>.tmp`` next to ``local_path``; rename it over ``local_path`` when the block succeeds.

    The temporary file is removed whatever happens, so a failed or stopped download never leaves a partial file
    under the final name, nor a stray ``.tmp``.
    """
    tmp = local_path.with_name(local_path.name + ".tmp")
    try:
        yield tmp
        os.replace(tmp, local_path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
