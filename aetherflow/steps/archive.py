"""``zip`` and ``unzip`` (kind ``archive``, spec steps.md §8).

Connector choice for both: ``inputs.resource`` (alias ``connector``), else a declared resource named
``archive_default``, else a built-in one: ``archive:zipfile`` without a password, ``archive:pyzipper`` with one (in
enterprise mode a declared resource is required). Connectors follow the upstream archive API
(``create_zip``/``extract_zip``, see ``aetherflow.connectors.archive``), so plugin connectors work too.

``unzip`` checks every entry it will extract before extracting anything (absolute names, ``..`` components, symlink
entries are refused), extracts into a staging directory next to the destination and only then moves the files into
place, so a failed archive leaves nothing half-extracted.
"""

from __future__ import annotations

import glob
import importlib
import importlib.util
import inspect
import os
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aetherflow.api import (
    ConnectorInit,
    Inputs,
    Interrupted,
    Step,
    StepContext,
    StepFailed,
    StepResult,
)

DEFAULT_RESOURCE = "archive_default"
# The built-in fallback connectors. Steps never import connector modules statically (import-linter contract); this
# is the same "module:Class" target the registry's catalogue names.
_BUILTIN_MODULE = "aetherflow.connectors.archive"
_BUILTIN_CLASSES = {
    "zipfile": "ZipfileConnector",
    "pyzipper": "PyzipperConnector",
    "os": "aetherflow.connectors.archive_programs:OsZipConnector",
}
_GLOB_CHARS = re.compile(r"[*?\[]")
_DRIVE = re.compile(r"^[A-Za-z]:")


class ZipInputs(Inputs):
    """Inputs of ``zip``."""

    dest_path: str
    items: list[str | dict[str, str]] | str
    src_dir: str | None = None
    recursive: bool = True
    overwrite: bool = True
    password: str | None = None
    compression: str = "deflated"
    resource: str | None = None
    connector: str | None = None


class UnzipInputs(Inputs):
    """Inputs of ``unzip``."""

    archives: list[str] | str
    dest_dir: str
    src_dir: str | None = None
    private_zip_folder: bool = False
    overwrite: bool = True
    password: str | None = None
    members: list[str] | None = None
    resource: str | None = None
    connector: str | None = None


def _archive_connector(ctx: StepContext, requested: str | None, password: str | None, step: str) -> tuple[Any, str]:
    """The connector to use and its driver name (steps.md §8 rule)."""
    declared = ctx.resource_kinds()
    name = requested or (DEFAULT_RESOURCE if DEFAULT_RESOURCE in declared else None)
    if name is not None:
        connector = ctx.connector(name, kind="archive")
        driver = declared[name][1] if name in declared else str(getattr(connector, "driver", "unknown"))
        return connector, driver
    if ctx.enterprise:
        raise RuntimeError("Zip/Unzip requires declared archive resource in enterprise mode")
    driver = "pyzipper" if password else "zipfile"
    if driver == "pyzipper" and importlib.util.find_spec("pyzipper") is None and _has_info_zip():
        driver = "os"
    elif driver == "pyzipper" and importlib.util.find_spec("pyzipper") is None:
        raise StepFailed(
            f"{step} with a password needs pyzipper: install the 'zip' extra (pip install 'aetherflow[zip]') "
            "or declare an archive resource"
        )
    module, _, attr = _BUILTIN_CLASSES[driver].rpartition(":")
    cls = getattr(importlib.import_module(module or _BUILTIN_MODULE), attr)
    init = ConnectorInit(name=f"builtin:{driver}", kind="archive", driver=driver, config={}, options={}, ctx=ctx)
    return cls(init), driver


def _has_info_zip() -> bool:
    """Whether the ``zip`` and ``unzip`` programs exist (the password fallback when pyzipper is missing)."""
    return shutil.which("zip") is not None and shutil.which("unzip") is not None


def _call(method: Any, ctx: StepContext, **kwargs: Any) -> Mapping[str, Any]:
    """Call a connector method, handing over the stop token when it accepts one."""
    try:
        accepts_cancel = "cancelled" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        accepts_cancel = False
    if accepts_cancel:
        kwargs["cancelled"] = ctx.cancelled
    result = method(**kwargs)
    return result if isinstance(result, Mapping) else {}


def _check_cancelled(ctx: StepContext, step: str) -> None:
    if ctx.cancelled.is_set():
        raise Interrupted(f"{step} stopped: stop requested")


# -- zip ------------------------------------------------------------------------------------------------------------
def _item_pattern(item: str | Mapping[str, str]) -> tuple[str, bool]:
    """(text, is_glob) of one ``items`` entry."""
    if isinstance(item, str):
        return item, bool(_GLOB_CHARS.search(item))
    keys = set(item)
    if keys == {"path"}:
        return str(item["path"]), False
    if keys == {"glob"}:
        return str(item["glob"]), True
    raise ValueError(f"zip item must be a path, a glob, or a mapping with one key 'path' or 'glob': {dict(item)}")


def _expand(path: Path, recursive: bool) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        return []
    if not recursive:
        return sorted(p for p in path.iterdir() if p.is_file())
    found: list[Path] = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        found.extend(Path(root) / f for f in sorted(files))
    return found


def collect_files(ctx: StepContext, items: Sequence[str | Mapping[str, str]], recursive: bool) -> list[Path]:
    """Every file the items name (globs matched, directories expanded), sandbox-checked, de-duplicated, sorted."""
    found: set[Path] = set()
    for item in items:
        text, is_glob = _item_pattern(item)
        if is_glob:
            pattern = ctx.resolve_path(text)
            matches = [Path(m) for m in glob.glob(str(pattern), recursive=True)]
        else:
            matches = [ctx.resolve_path(text)]
        for match in matches:
            for path in _expand(match, recursive):
                # Re-resolve: a glob or directory walk may reach a symlink the sandbox refuses.
                found.add(ctx.resolve_path(path))
    return sorted(found)


class Zip(Step[ZipInputs]):
    """Create a zip archive from files, directories and globs; SKIPPED when nothing matched."""

    inputs_model = ZipInputs
    resource_kind = "archive"

    def run(self, inputs: ZipInputs, ctx: StepContext) -> StepResult:
        connector, driver = _archive_connector(ctx, inputs.resource or inputs.connector, inputs.password, "zip")
        dest = ctx.resolve_path(inputs.dest_path)
        base = ctx.resolve_path(inputs.src_dir) if inputs.src_dir else ctx.artifacts_dir
        items = [inputs.items] if isinstance(inputs.items, str) else inputs.items
        compression = inputs.compression.strip().lower()
        if compression not in ("deflated", "stored"):
            raise ValueError(f"zip unsupported compression: {inputs.compression}. Use one of: deflated, stored")
        excluded = {dest, dest.with_name(dest.name + ".tmp")}
        files = [f for f in collect_files(ctx, items, inputs.recursive) if f not in excluded]
        for path in files:
            if path != base and base not in path.parents:
                raise ValueError(f"zip input '{path}' is outside base_dir '{base}'")
        if not files:
            return StepResult.skipped("no_files", output=str(dest), count=0)
        if dest.exists() and not inputs.overwrite:
            raise FileExistsError(f"zip output exists and overwrite is false: {dest}")
        _check_cancelled(ctx, "zip")
        result = _call(
            connector.create_zip,
            ctx,
            output=dest,
            files=files,
            base_dir=base,
            password=inputs.password,
            compression=compression,
            overwrite=inputs.overwrite,
        )
        output = {"output": str(dest), "count": len(files), "password": bool(inputs.password), "driver": driver}
        return StepResult.success({**output, **result, "src_dir": str(base)})


# -- unzip ----------------------------------------------------------------------------------------------------------
def _unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or _DRIVE.match(name):
        return "absolute path"
    if ".." in name.split("/"):
        return "parent traversal"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symlink"
    return None


def check_archive(archive: Path, members: Sequence[str] | None) -> None:
    """Refuse the archive if any entry to extract is unsafe; a corrupt archive is an error naming it."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"unzip cannot read {archive}: corrupt or not a zip archive ({exc})") from None
    if members is not None:
        names = {info.filename for info in infos}
        missing = [m for m in members if m not in names]
        if missing:
            raise ValueError(f"unzip members not found in {archive}: {missing}")
        wanted = set(members)
        infos = [info for info in infos if info.filename in wanted]
    for info in infos:
        reason = _unsafe_reason(info)
        if reason:
            raise ValueError(f"unzip refused unsafe entry '{info.filename}' in {archive}: {reason}")


def _target_dir(dest: Path, src_dir: Path, archive: Path, private: bool) -> Path:
    """Where one archive extracts: mirrors its place under ``src_dir``; outside it, a folder named after it."""
    stem = archive.name[:-4] if archive.name.lower().endswith(".zip") else archive.name
    if src_dir in archive.parents:
        rel = archive.relative_to(src_dir)
        return dest / rel.parent / stem if private else dest / rel.parent
    return dest / stem


def _move_into_place(staging: Path, target: Path, overwrite: bool) -> list[str]:
    """Move the staged tree into ``target``; existing files are replaced or, without overwrite, kept."""
    placed: list[str] = []
    for root, dirs, files in os.walk(staging):
        dirs.sort()
        rel_root = Path(root).relative_to(staging)
        out_dir = target / rel_root
        if out_dir.is_symlink():
            raise ValueError(f"unzip refused to write through symlink {out_dir}")
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in sorted(files):
            dst = out_dir / name
            if dst.is_symlink() or dst.is_dir():
                raise ValueError(
                    f"unzip cannot replace {dst}: it is a {'symlink' if dst.is_symlink() else 'directory'}"
                )
            if dst.exists() and not overwrite:
                continue
            os.replace(Path(root) / name, dst)
            placed.append((rel_root / name).as_posix())
    return placed


class Unzip(Step[UnzipInputs]):
    """Extract zip archives safely: unsafe entries are refused before anything is written."""

    inputs_model = UnzipInputs
    resource_kind = "archive"

    def run(self, inputs: UnzipInputs, ctx: StepContext) -> StepResult:
        connector, driver = _archive_connector(ctx, inputs.resource or inputs.connector, inputs.password, "unzip")
        dest = ctx.resolve_path(inputs.dest_dir)
        src_dir = ctx.resolve_path(inputs.src_dir) if inputs.src_dir else ctx.artifacts_dir
        archives = [inputs.archives] if isinstance(inputs.archives, str) else inputs.archives
        dest.mkdir(parents=True, exist_ok=True)
        unzipped: list[dict[str, Any]] = []
        for item in archives:
            _check_cancelled(ctx, "unzip")
            archive = ctx.resolve_path(item)
            if not archive.is_file():
                ctx.emit("unzip_archive_missing", level="WARNING", archive=str(archive))
                continue
            check_archive(archive, inputs.members)
            target = _target_dir(dest, src_dir, archive, inputs.private_zip_folder)
            target.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.unzip-", dir=target.parent))
            try:
                result = _call(
                    connector.extract_zip,
                    ctx,
                    archive=archive,
                    dest_dir=staging,
                    password=inputs.password,
                    overwrite=True,
                    members=inputs.members,
                )
                placed = _move_into_place(staging, target, inputs.overwrite)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            unzipped.append(
                {
                    **result,
                    "dest_dir": str(target),
                    "files": placed,
                    "password": bool(inputs.password),
                    "driver": driver,
                }
            )
        return StepResult.success(unzipped=unzipped, dest_dir=str(dest))
