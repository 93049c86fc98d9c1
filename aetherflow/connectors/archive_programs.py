"""``archive:os`` (the system ``zip``/``unzip`` programs) and ``archive:external`` (configured argv templates, e.g. 7z).

Both follow the archive connector API of ``aetherflow.connectors.archive`` (``create_zip``/``extract_zip``, same
results) and its safety rules:

* create: the program writes ``<output>.tmp``, renamed into place once it succeeded;
* extract: a zip archive's entries are checked before the program runs (absolute names, ``..``, symlinks), the
  program extracts into a private staging directory, every path it produced is checked (``check_extracted``), and
  only then are the files (all, or the listed ``members``) moved into ``dest_dir``.

A password reaches ``zip``/``unzip`` as ``-P`` (ZipCrypto): the programs offer no other non-interactive way, so it is
visible in the process list of the machine while they run. It is masked in every error message. Info-ZIP ``zip``
3.0 stores file names as raw bytes without the zip UTF-8 flag: ``unzip`` restores non-ASCII names, other readers may
decode them differently.
"""

from __future__ import annotations

import os
import re
import zipfile
from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aetherflow.api import (
    ArchiveLimits,
    ArchiveRefused,
    CancelToken,
    Connector,
    ConnectorError,
    ConnectorInit,
    check_members,
    zip_member,
)
from aetherflow.connectors._archive_process import check_extracted, place, run_program, staging_dir
from aetherflow.connectors.archive import archive_name, compression_method

_PLACEHOLDER = re.compile(r"\{(archive|dest|password|base_dir)\}")


def _precheck_zip(
    archive: Path, members: Sequence[str] | None, who: str, limits: ArchiveLimits | None, dest: Path
) -> None:
    """Refuse unsafe entries, unknown members and archives over the limits before any program runs, with the one
    check every extraction uses (no-op for formats only the program can read: its output is checked instead)."""
    if not zipfile.is_zipfile(archive):
        return
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
    names = {info.filename for info in infos}
    missing = [m for m in members or () if m not in names]
    if missing:
        raise ValueError(f"{who} members not found in {archive}: {missing}")
    chosen = [zip_member(info) for info in infos if members is None or info.filename in members]
    try:
        check_members(chosen, limits or ArchiveLimits(), free_space_of=dest)
    except ArchiveRefused as refused:
        raise refused.about(who, archive) from None


def _entries(files: Sequence[str | os.PathLike[str]], base_dir: str | os.PathLike[str]) -> list[str]:
    names = [archive_name(Path(f), Path(base_dir)) for f in files]
    for name in names:
        if "\n" in name or "\r" in name:
            raise ValueError(f"zip cannot pass a file name holding a line break to an external program: {name!r}")
    return names


class _ProgramArchive(Connector):
    """Create through a temporary file, extract through a checked staging directory."""

    driver = "os"

    @abstractmethod
    def _create_argv(self, tmp: Path, base: Path, names: list[str], password: str | None, method: int) -> list[str]:
        """The argv that writes the archive ``tmp`` of ``names`` (relative to ``base``)."""

    @abstractmethod
    def _extract_argv(self, archive: Path, stage: Path, password: str | None) -> list[str]:
        """The argv that extracts ``archive`` into the staging directory ``stage``."""

    def _create_stdin(self, names: list[str]) -> bytes | None:
        return None

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
        """Write a zip of ``files`` (names relative to ``base_dir``) at ``output``, through ``<output>.tmp``."""
        out = Path(output)
        base = Path(base_dir)
        method = compression_method(compression)
        if out.exists() and not overwrite:
            raise FileExistsError(f"zip output exists and overwrite is false: {out}")
        names = _entries(files, base)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.unlink(missing_ok=True)  # zip would add to a left-over file instead of starting afresh
        argv = self._create_argv(tmp, base, names, password, method)
        what = f"zip {out} with archive:{self.driver}"
        try:
            run_program(
                argv, what=what, cwd=base, stdin=self._create_stdin(names), secret=password, cancelled=cancelled
            )
            if not tmp.is_file():
                raise ConnectorError(f"{what}: '{argv[0]}' succeeded but wrote no archive at {tmp}")
            os.replace(tmp, out)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return {"output": str(out), "count": len(names), "password": bool(password), "driver": self.driver}

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
    ) -> dict[str, Any]:
        """Extract ``archive`` (or only ``members``) into ``dest_dir``; every extracted path is checked first."""
        source = Path(archive)
        dest = Path(dest_dir)
        if not source.is_file():
            raise FileNotFoundError(f"unzip archive not found: {source}")
        _precheck_zip(source, members, "unzip", limits, dest)
        with staging_dir(dest) as stage:
            argv = self._extract_argv(source, stage, password)
            run_program(argv, what=f"unzip {source} with archive:{self.driver}", secret=password, cancelled=cancelled)
            found = check_extracted(stage, "unzip", source)
            if members is not None:
                missing = [m for m in members if m not in found]
                if missing:
                    raise ValueError(f"unzip members not found in {source}: {missing}")
                found = [m for m in found if m in set(members)]
            placed = place(stage, dest, found, overwrite=overwrite)
        return {"dest_dir": str(dest), "files": placed, "password": bool(password), "driver": self.driver}


class OsZipConnector(_ProgramArchive):
    """``archive:os``: Info-ZIP ``zip`` and ``unzip`` (ZipCrypto with a password)."""

    config_keys = frozenset({"zip_cmd", "unzip_cmd", "quiet"})
    options_keys = frozenset({"cache"})
    driver = "os"

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        for key, default in (("zip_cmd", "zip"), ("unzip_cmd", "unzip")):
            value = init.config.get(key, default)
            if not isinstance(value, str) or not value.strip():
                raise ConnectorError(f"archive resource '{init.name}' (archive:os): config.{key} must be a program")
        self.zip_cmd = str(init.config.get("zip_cmd", "zip")).strip()
        self.unzip_cmd = str(init.config.get("unzip_cmd", "unzip")).strip()
        quiet = init.config.get("quiet", True)
        self.quiet = quiet if isinstance(quiet, bool) else str(quiet).strip().lower() != "false"

    def _create_argv(self, tmp: Path, base: Path, names: list[str], password: str | None, method: int) -> list[str]:
        # Names come on stdin (-@): no argv length limit, and a name starting with '-' is not read as an option.
        argv = [self.zip_cmd, *(["-q"] if self.quiet else []), "-X", "-0" if method == zipfile.ZIP_STORED else "-6"]
        if password:
            argv += ["-P", password]
        return [*argv, "-@", str(tmp)]

    def _create_stdin(self, names: list[str]) -> bytes | None:
        return "".join(f"{name}\n" for name in names).encode("utf-8")

    def _extract_argv(self, archive: Path, stage: Path, password: str | None) -> list[str]:
        # No member arguments: unzip reads them as wildcard patterns. The staged files are filtered instead.
        argv = [self.unzip_cmd, *(["-q"] if self.quiet else []), "-o"]
        argv += ["-P", password] if password else []
        return [*argv, str(archive), "-d", str(stage)]


class ExternalArchiveConnector(_ProgramArchive):
    """``archive:external``: argv templates. ``{archive}``, ``{dest}``, ``{password}``, ``{base_dir}`` are replaced
    inside any argument; an argument that is exactly ``{files}`` becomes one argument per file name."""

    config_keys = frozenset({"zip_cmd", "unzip_cmd"})
    options_keys = frozenset({"cache"})
    driver = "external"

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        self.templates: dict[str, list[str]] = {}
        for key in ("zip_cmd", "unzip_cmd"):
            value = init.config.get(key)
            if value is None:
                continue
            if not isinstance(value, list) or not value or not all(isinstance(x, str) for x in value) or not value[0]:
                raise ConnectorError(
                    f"archive resource '{init.name}' (archive:external): config.{key} must be a list of arguments, "
                    'e.g. ["7z", "a", "-tzip", "{archive}", "{files}"]'
                )
            self.templates[key] = list(value)

    def _render(self, key: str, values: dict[str, str], files: list[str], password: str | None) -> list[str]:
        template = self.templates.get(key)
        if template is None:
            raise ConnectorError(f"archive resource '{self.name}' (archive:external) needs config.{key}")
        if password and not any("{password}" in arg for arg in template):
            raise ConnectorError(
                f"archive resource '{self.name}' (archive:external): a password was given but config.{key} has no "
                "{password} placeholder"
            )
        argv: list[str] = []
        for arg in template:
            if arg == "{files}":
                # './' keeps a name starting with '-' from being read as an option; archivers drop the prefix.
                argv.extend(f"./{name}" if name.startswith("-") else name for name in files)
                continue
            # One pass: a value holding placeholder text (a password with "{dest}") is not replaced again.
            argv.append(_PLACEHOLDER.sub(lambda m: values.get(m.group(0), ""), arg))
        return argv

    def _create_argv(self, tmp: Path, base: Path, names: list[str], password: str | None, method: int) -> list[str]:
        values = {"{archive}": str(tmp), "{base_dir}": str(base), "{password}": password or ""}
        return self._render("zip_cmd", values, names, password)

    def _extract_argv(self, archive: Path, stage: Path, password: str | None) -> list[str]:
        values = {"{archive}": str(archive), "{dest}": str(stage), "{password}": password or ""}
        return self._render("unzip_cmd", values, [], password)
