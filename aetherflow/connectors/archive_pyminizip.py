"""``archive:pyminizip``: password-protected (ZipCrypto) zips through pyminizip, extra ``pyminizip``. Create only.

pyminizip is a C extension with no wheel for every Python version (none for 3.12): when it is missing, validation
reports the extra (``semantic:missing_extra``) and the connector's error names it too.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aetherflow.api import CancelToken, Connector, ConnectorError, ConnectorInit, Interrupted
from aetherflow.connectors.archive import archive_name, compression_method

DEFAULT_LEVEL = 5


def pyminizip_module(resource: str) -> Any:
    """The pyminizip module, or a ``ConnectorError`` naming the extra that installs it."""
    try:
        import pyminizip  # type: ignore[import-not-found]
    except ModuleNotFoundError:
        raise ConnectorError(
            f"archive resource '{resource}' (archive:pyminizip) needs pyminizip: install the 'pyminizip' extra "
            "(pip install 'aetherflow[pyminizip]'; it builds from source where no wheel exists), "
            "or use archive:pyzipper or archive:os"
        ) from None
    return pyminizip


class PyminizipConnector(Connector):
    """``archive:pyminizip``: ``create_zip`` with a password; ``extract_zip`` is refused (use another driver)."""

    config_keys = frozenset({"compress_level"})
    options_keys = frozenset({"cache"})
    driver = "pyminizip"

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        level = init.config.get("compress_level", DEFAULT_LEVEL)
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 9:
            raise ConnectorError(
                f"archive resource '{init.name}' (archive:pyminizip): config.compress_level must be 0-9, got {level!r}"
            )
        self.level = level

    def create_zip(
        self,
        *,
        output: str | os.PathLike[str],
        files: Sequence[str | os.PathLike[str]],
        base_dir: str | os.PathLike[str],
        password: str | None = None,
        compression: str = "deflated",
        overwrite: bool = True,
        cancelled: CancelToken | None = None,
    ) -> dict[str, Any]:
        """Write an encrypted zip of ``files`` (names relative to ``base_dir``) at ``output``, atomically."""
        if not password:
            raise ConnectorError(
                f"archive resource '{self.name}' (archive:pyminizip) writes encrypted archives only: give a password, "
                "or use archive:zipfile"
            )
        pyminizip = pyminizip_module(self.name)
        out = Path(output)
        base = Path(base_dir)
        level = 0 if compression_method(compression) == zipfile.ZIP_STORED else self.level
        if out.exists() and not overwrite:
            raise FileExistsError(f"zip output exists and overwrite is false: {out}")
        names = [archive_name(Path(f), base) for f in files]
        if cancelled is not None and cancelled.is_set():
            raise Interrupted(f"zip {out} stopped: stop requested")
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        # pyminizip takes each file's path and, separately, the folder it gets inside the archive.
        prefixes = [str(Path(name).parent.as_posix()) if "/" in name else "" for name in names]
        try:
            pyminizip.compress_multiple([str(f) for f in files], prefixes, str(tmp), password, level)
            os.replace(tmp, out)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ConnectorError(f"zip {out} with archive:pyminizip failed: {exc}") from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return {"output": str(out), "count": len(names), "password": True, "driver": self.driver}

    def extract_zip(self, **_: Any) -> dict[str, Any]:
        """Refused: pyminizip cannot extract."""
        raise ConnectorError(
            f"archive resource '{self.name}' (archive:pyminizip) cannot extract archives; "
            "use archive:zipfile, archive:pyzipper or archive:os for unzip"
        )
