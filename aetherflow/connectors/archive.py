"""Archive connectors: ``archive:zipfile`` (stdlib; cannot write encrypted archives) and ``archive:pyzipper`` (AES).

Both keep the upstream archive connector API, which the ``zip``/``unzip`` steps and legacy plugins share:

* ``create_zip(output=, files=, base_dir=, password=None, compression="deflated", overwrite=True)`` writes
  ``<output>.tmp`` and renames it into place; archive names are the files' paths relative to ``base_dir``. Returns
  ``{output, count, password, driver}``.
* ``extract_zip(archive=, dest_dir=, password=None, overwrite=True, members=None)`` extracts regular files and
  directories into ``dest_dir``. Returns ``{dest_dir, files, password, driver}``.

Both also take ``cancelled`` (checked between files); ``extract_zip`` takes ``limits`` too. Extraction refuses unsafe
entries (absolute names, ``..`` components, symlinks) and archives over the limits itself before writing anything, and
counts the bytes it writes, even though the ``unzip`` step checks first: the connector may be used directly. Library
failures become ``ConnectorError`` (permanent: a corrupt archive or a wrong password does not get better on retry).
pyzipper is imported inside methods.
"""

from __future__ import annotations

import abc
import os
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aetherflow.api import (
    ArchiveLimits,
    ArchiveRefused,
    CancelToken,
    Connector,
    ConnectorError,
    ConnectorInit,
    WriteBudget,
    check_cancelled,
    check_members,
    safe_join,
    zip_member,
)

COPY_BUFFER = 1 << 20
_COMPRESSION = {"deflated": zipfile.ZIP_DEFLATED, "stored": zipfile.ZIP_STORED}


def compression_method(name: str) -> int:
    """The zipfile constant for ``deflated`` or ``stored``."""
    method = _COMPRESSION.get(str(name).strip().lower())
    if method is None:
        raise ValueError(f"zip unsupported compression: {name}. Use one of: deflated, stored")
    return method


def archive_name(path: Path, base_dir: Path) -> str:
    """``path`` relative to ``base_dir`` in archive form (forward slashes); outside the base is an error."""
    try:
        return path.relative_to(base_dir).as_posix()
    except ValueError:
        raise ValueError(f"zip input '{path}' is outside base_dir '{base_dir}'") from None


class _ZipConnector(Connector, abc.ABC):
    """The shared create/extract logic; subclasses open the zip files."""

    driver_name = "zipfile"

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        self.driver = init.driver or self.driver_name

    # -- hooks ------------------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def _writer(self, sink: Any, method: int, password: str | None) -> Any:
        """A ZipFile-like object writing to the binary file ``sink``."""

    @abc.abstractmethod
    def _reader(self, path: Path, password: str | None) -> Any:
        """A ZipFile-like object reading ``path``."""

    def _bad_zip_errors(self) -> tuple[type[BaseException], ...]:
        return (zipfile.BadZipFile,)

    # -- create -----------------------------------------------------------------------------------------------------
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
        progress: Callable[[int], None] | None = None,
    ) -> dict[str, Any]:
        """Write a zip of ``files`` (names relative to ``base_dir``) at ``output``, atomically.

        ``progress`` gets the running count of input bytes read; a stop request is seen between chunks.
        """
        out = Path(output)
        base = Path(base_dir)
        method = compression_method(compression)
        if out.exists() and not overwrite:
            raise FileExistsError(f"zip output exists and overwrite is false: {out}")
        entries = [(Path(f), archive_name(Path(f), base)) for f in files]
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        try:
            with open(tmp, "wb", buffering=COPY_BUFFER) as sink, self._writer(sink, method, password) as archive:
                done = 0
                for path, name in entries:
                    check_cancelled(cancelled, f"zip {out}", "stop requested")
                    done = self._add(archive, path, name, done, cancelled, progress)
                sink_fd = sink.fileno()
                archive.close()
                sink.flush()
                os.fsync(sink_fd)
            os.replace(tmp, out)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return {"output": str(out), "count": len(entries), "password": bool(password), "driver": self.driver}

    def _member_info(self, archive: Any, path: Path, name: str) -> zipfile.ZipInfo:
        """The entry for ``path`` as ``archive.write`` would make it (its ZipInfo class, timestamps, compression)."""
        info = zipfile.ZipInfo.from_file(path, name, strict_timestamps=False)
        info.compress_type = archive.compression
        info._compresslevel = archive.compresslevel  # type: ignore[attr-defined]  # as ZipFile.write sets it
        return info

    def _add(
        self,
        archive: Any,
        path: Path,
        name: str,
        done: int,
        cancelled: CancelToken | None,
        progress: Callable[[int], None] | None,
    ) -> int:
        """``archive.write(path, name)`` in chunks, so a large file reports progress and stops when asked; returns the
        running byte count."""
        info = self._member_info(archive, path, name)
        if info.is_dir():
            archive.write(path, name)
            return done
        with open(path, "rb") as src, archive.open(info, "w") as dest:
            while chunk := src.read(COPY_BUFFER):
                dest.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done)
                check_cancelled(cancelled, f"zip {path}", "stop requested")
        return done

    # -- extract ----------------------------------------------------------------------------------------------------
    def extract_zip(
        self,
        *,
        archive: str | os.PathLike[str],
        dest_dir: str | os.PathLike[str],
        password: str | None = None,
        overwrite: bool = True,
        members: Sequence[str] | None = None,
        cancelled: CancelToken | None = None,
        limits: ArchiveLimits | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> dict[str, Any]:
        """Extract ``archive`` (or only ``members``) into ``dest_dir``; unsafe entries fail before any write.

        ``limits`` (default: the ``unzip`` defaults) bound the entry count, the declared and the written size and the
        compression ratio. ``progress`` gets the running count of bytes written.
        """
        source = Path(archive)
        dest = Path(dest_dir)
        limits = limits or ArchiveLimits()
        try:
            with self._reader(source, password) as zf:
                infos = _select(zf.infolist(), members, source)
                check_members([zip_member(i) for i in infos], limits, free_space_of=dest)
                targets = [(info, safe_join(dest, info.filename)) for info in infos]
                dest.mkdir(parents=True, exist_ok=True)
                extracted = self._write(zf, targets, overwrite, WriteBudget(limits, progress), cancelled, source)
        except ArchiveRefused as exc:
            raise exc.about("unzip", source) from None
        except self._bad_zip_errors() as exc:
            raise ConnectorError(f"unzip cannot read {source}: corrupt or not a zip archive ({exc})") from exc
        except RuntimeError as exc:
            if "password" in str(exc).lower():
                raise ConnectorError(f"unzip cannot decrypt {source}: wrong or missing password ({exc})") from exc
            raise
        except NotImplementedError as exc:  # the standard library's zipfile refuses AES entries with this error
            raise ConnectorError(
                f"unzip cannot read {source} with archive:{self.driver}: {exc} "
                "(AES-encrypted entries need archive:pyzipper, extra 'zip')"
            ) from exc
        return {"dest_dir": str(dest), "files": extracted, "password": bool(password), "driver": self.driver}

    @staticmethod
    def _write(
        zf: Any,
        targets: list[tuple[zipfile.ZipInfo, Path]],
        overwrite: bool,
        budget: WriteBudget,
        cancelled: CancelToken | None,
        source: Path,
    ) -> list[str]:
        extracted: list[str] = []
        for info, target in targets:
            check_cancelled(cancelled, f"unzip {source}", "stop requested")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            if target.exists() and not overwrite:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                budget.copy(src, dst, entry=info.filename, declared=info.file_size)
            extracted.append(info.filename)
        return extracted


def _select(infos: list[zipfile.ZipInfo], members: Sequence[str] | None, source: Path) -> list[zipfile.ZipInfo]:
    if members is None:
        return infos
    by_name = {info.filename: info for info in infos}
    missing = [m for m in members if m not in by_name]
    if missing:
        raise ValueError(f"unzip members not found in {source}: {missing}")
    return [by_name[m] for m in members]


class ZipfileConnector(_ZipConnector):
    """``archive:zipfile``: Python's zipfile. Reads ZipCrypto-encrypted entries; writes only unencrypted archives."""

    config_keys = frozenset()
    options_keys = frozenset({"cache"})
    driver_name = "zipfile"

    def _writer(self, sink: Any, method: int, password: str | None) -> zipfile.ZipFile:
        if password:
            raise ConnectorError(
                f"archive resource '{self.name}' (archive:zipfile) cannot write encrypted archives; "
                "use archive:pyzipper (extra 'zip') for a password"
            )
        # strict_timestamps=False: files older than 1980 get the zip epoch instead of failing the step.
        return zipfile.ZipFile(sink, "w", compression=method, strict_timestamps=False)

    def _reader(self, path: Path, password: str | None) -> zipfile.ZipFile:
        zf = zipfile.ZipFile(path)
        if password:
            zf.setpassword(password.encode("utf-8"))
        return zf


class PyzipperConnector(_ZipConnector):
    """``archive:pyzipper``: AES (WinZip AE-2) encryption when a password is given; reads AES and ZipCrypto."""

    config_keys = frozenset({"encryption", "aes_strength"})
    options_keys = frozenset({"cache"})
    driver_name = "pyzipper"

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        encryption = str(init.config.get("encryption") or "aes").strip().lower()
        if encryption != "aes":
            raise ConnectorError(
                f"archive resource '{init.name}' (archive:pyzipper): config.encryption must be 'aes' "
                f"(got {encryption!r}); pyzipper cannot write ZipCrypto"
            )
        try:
            self.aes_strength = int(init.config.get("aes_strength") or 256)
        except (TypeError, ValueError):
            self.aes_strength = 0
        if self.aes_strength not in (128, 192, 256):
            raise ConnectorError(
                f"archive resource '{init.name}' (archive:pyzipper): config.aes_strength must be 128, 192 or 256"
            )

    @staticmethod
    def _pyzipper() -> Any:
        try:
            import pyzipper
        except ModuleNotFoundError:
            raise ConnectorError(
                "archive:pyzipper needs pyzipper: install the 'zip' extra (pip install 'aetherflow[zip]')"
            ) from None
        return pyzipper

    def _bad_zip_errors(self) -> tuple[type[BaseException], ...]:
        return (zipfile.BadZipFile, self._pyzipper().BadZipFile)

    def _writer(self, sink: Any, method: int, password: str | None) -> Any:
        pyzipper = self._pyzipper()
        if not password:
            return pyzipper.ZipFile(sink, "w", compression=method, strict_timestamps=False)
        zf = pyzipper.AESZipFile(sink, "w", compression=method, encryption=pyzipper.WZ_AES, strict_timestamps=False)
        zf.setpassword(password.encode("utf-8"))
        zf.setencryption(pyzipper.WZ_AES, nbits=self.aes_strength)
        return zf

    def _member_info(self, archive: Any, path: Path, name: str) -> zipfile.ZipInfo:
        # pyzipper's archives carry their own ZipInfo class (the AES one writes the encryption header)
        info: zipfile.ZipInfo = archive.zipinfo_cls.from_file(path, name, strict_timestamps=False)
        info.compress_type = archive.compression
        info._compresslevel = archive.compresslevel  # type: ignore[attr-defined]  # as ZipFile.write sets it
        return info

    def _reader(self, path: Path, password: str | None) -> Any:
        pyzipper = self._pyzipper()
        zf = pyzipper.AESZipFile(path)
        if password:
            zf.setpassword(password.encode("utf-8"))
        return zf
