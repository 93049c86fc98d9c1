"""``zip`` and ``unzip`` (kind ``archive``, docs/reference/steps/archive.md).

Connector choice for both: ``inputs.resource`` (alias ``connector``), else a declared resource named
``archive_default``, else a built-in one: ``archive:zipfile`` without a password, ``archive:pyzipper`` with one (in
enterprise mode a declared resource is required). Connectors follow the upstream archive API
(``create_zip``/``extract_zip``, see ``aetherflow.connectors.archive``), so plugin connectors work too.

``unzip`` checks every entry it will extract before extracting anything (absolute names, ``..`` components, symlink
entries, and the size, entry-count and compression-ratio limits), extracts into a staging directory inside the
destination and only then moves the files into place, so a failed archive leaves nothing half-extracted; a staging
directory a killed attempt left is removed when the step runs again.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import shutil
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from aetherflow.api import (
    DEFAULT_MAX_ENTRIES,
    DEFAULT_MAX_RATIO,
    DEFAULT_MAX_TOTAL_MB,
    ArchiveLimits,
    ArchiveRefused,
    Inputs,
    Interrupted,
    Step,
    StepContext,
    StepFailed,
    StepResult,
    check_members,
    safe_join,
    zip_member,
)
from aetherflow.steps._allowed import one_of
from aetherflow.steps._transfer import expand_local_files, input_error, local_matches, local_size, no_files

DEFAULT_RESOURCE = "archive_default"


class ZipInputs(Inputs):
    """Inputs of ``zip``."""

    dest_path: str
    items: list[str | dict[str, str]] | str
    src_dir: str | None = None
    recursive: bool = True
    overwrite: bool = True
    password: str | None = None
    compression: str = "deflated"

    _compression = one_of("zip", "compression")
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
    max_total_mb: float = Field(default=DEFAULT_MAX_TOTAL_MB, gt=0)
    max_entries: int = Field(default=DEFAULT_MAX_ENTRIES, gt=0)
    max_ratio: float = Field(default=DEFAULT_MAX_RATIO, gt=0)


def _archive_connector(ctx: StepContext, requested: str | None, password: str | None, step: str) -> tuple[Any, str]:
    """The connector to use and its driver name (the rule in docs/reference/steps/archive.md)."""
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
    # resolved by the registry (the catalogue's "archive:<driver>"): a step never names a connector module
    return ctx.builtin_connector("archive", driver), driver


#: keyword arguments a plugin connector of the upstream API may not accept; passed only when it does
_OPTIONAL_KWARGS = ("cancelled", "limits", "progress")


def _has_info_zip() -> bool:
    """Whether the ``zip`` and ``unzip`` programs exist (the password fallback when pyzipper is missing)."""
    return shutil.which("zip") is not None and shutil.which("unzip") is not None


def _call(method: Any, ctx: StepContext, **kwargs: Any) -> Mapping[str, Any]:
    """Call a connector method, handing over the stop token (and the archive limits) when it accepts them."""
    try:
        accepted = set(inspect.signature(method).parameters)
    except (TypeError, ValueError):
        accepted = set()
    kwargs["cancelled"] = ctx.cancelled
    for name in _OPTIONAL_KWARGS:
        if name not in accepted:
            kwargs.pop(name, None)
    result = method(**kwargs)
    return result if isinstance(result, Mapping) else {}


def _check_cancelled(ctx: StepContext, step: str) -> None:
    if ctx.cancelled.is_set():
        raise Interrupted(f"{step} stopped: stop requested")


# -- zip ------------------------------------------------------------------------------------------------------------
def _item_pattern(item: str | Mapping[str, str]) -> tuple[str, bool | None]:
    """(text, is_glob) of one ``items`` entry; a string is a glob when it has glob characters and names no file."""
    if isinstance(item, str):
        return item, None
    keys = set(item)
    if keys == {"path"}:
        return str(item["path"]), False
    if keys == {"glob"}:
        return str(item["glob"]), True
    raise input_error(f"zip item must be a path, a glob, or a mapping with one key 'path' or 'glob': {dict(item)}")


def collect_files(ctx: StepContext, items: Sequence[str | Mapping[str, str]], recursive: bool) -> list[Path]:
    """Every file the items name (globs matched, directories expanded), sandbox-checked, de-duplicated, sorted.

    A named path that does not exist fails the step (permanent), naming it.
    """
    found: set[Path] = set()
    for item in items:
        text, is_glob = _item_pattern(item)
        found.update(local_matches(ctx, "zip", text, what="item", is_glob=is_glob, recursive=recursive))
    return sorted(found)


class Zip(Step[ZipInputs]):
    """Create a zip archive from files, directories and globs; SKIPPED when nothing matched."""

    inputs_model = ZipInputs
    result_keys = frozenset({"output", "count", "password", "driver", "src_dir", "reason"})
    resource_kind = "archive"

    def run(self, inputs: ZipInputs, ctx: StepContext) -> StepResult:
        connector, driver = _archive_connector(ctx, inputs.resource or inputs.connector, inputs.password, "zip")
        dest = ctx.resolve_path(inputs.dest_path)
        base = ctx.resolve_path(inputs.src_dir) if inputs.src_dir else ctx.artifacts_dir
        items = [inputs.items] if isinstance(inputs.items, str) else inputs.items
        compression = inputs.compression.strip().lower()
        if compression not in ("deflated", "stored"):
            raise input_error(f"zip unsupported compression: {inputs.compression}. Use one of: deflated, stored")
        excluded = {dest, dest.with_name(dest.name + ".tmp")}
        files = [f for f in collect_files(ctx, items, inputs.recursive) if f not in excluded]
        for path in files:
            if path != base and base not in path.parents:
                raise input_error(f"zip input '{path}' is outside base_dir '{base}'")
        if not files:
            return no_files(output=str(dest))
        if dest.exists() and not inputs.overwrite:
            raise FileExistsError(f"zip output exists and overwrite is false: {dest}")
        _check_cancelled(ctx, "zip")
        meter = ctx.progress("bytes", total=local_size(files))
        result = _call(
            connector.create_zip,
            ctx,
            output=dest,
            files=files,
            base_dir=base,
            password=inputs.password,
            compression=compression,
            overwrite=inputs.overwrite,
            progress=meter.part(),
        )
        output = {"output": str(dest), "count": len(files), "password": bool(inputs.password), "driver": driver}
        return StepResult.success({**output, **result, "src_dir": str(base)})


# -- unzip ----------------------------------------------------------------------------------------------------------
STAGING_PREFIX = ".unzip-staging-"


def check_archive(archive: Path, members: Sequence[str] | None, limits: ArchiveLimits, dest: Path) -> None:
    """Refuse the archive if an entry to extract is unsafe or it breaks a limit; a corrupt archive is an error."""
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
    try:
        check_members([zip_member(info) for info in infos], limits, free_space_of=dest)
        for info in infos:
            safe_join(dest, info.filename)
    except ArchiveRefused as exc:
        raise exc.about("unzip", archive) from None


def _target_dir(dest: Path, src_dir: Path, archive: Path, private: bool) -> Path:
    """Where one archive extracts: mirrors its place under ``src_dir``; outside it, a folder named after it.

    The folder name comes from the archive's name, so it goes through the path-safety check: ``...zip`` would
    otherwise name ``..`` and extract beside ``dest_dir``.
    """
    stem = archive.name[:-4] if archive.name.lower().endswith(".zip") else archive.name
    if src_dir in archive.parents:
        rel = archive.relative_to(src_dir).parent
        name = (rel / stem).as_posix() if private else rel.as_posix()
    else:
        name = stem
    try:
        return safe_join(dest, name)
    except ArchiveRefused as exc:
        raise ArchiveRefused(
            exc.reason, message=f"unzip refused {archive}: its folder '{name}' resolves outside dest_dir {dest}"
        ) from None


def _staging_dir(dest: Path, archive: Path, target: Path) -> Path:
    """The staging directory of one archive: inside ``dest_dir``, named after what it extracts, so a rerun finds
    (and removes) what a killed attempt left."""
    key = hashlib.sha256(f"{archive}\0{target}".encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return dest / f"{STAGING_PREFIX}{key}"


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
    """Extract zip archives safely: unsafe entries and archives over the limits are refused before anything is
    written."""

    inputs_model = UnzipInputs
    result_keys = frozenset({"unzipped", "dest_dir", "count", "reason"})
    resource_kind = "archive"

    def run(self, inputs: UnzipInputs, ctx: StepContext) -> StepResult:
        connector, driver = _archive_connector(ctx, inputs.resource or inputs.connector, inputs.password, "unzip")
        dest = ctx.resolve_path(inputs.dest_dir)
        src_dir = ctx.resolve_path(inputs.src_dir) if inputs.src_dir else ctx.artifacts_dir
        archives = [inputs.archives] if isinstance(inputs.archives, str) else inputs.archives
        limits = ArchiveLimits(inputs.max_total_mb, inputs.max_entries, inputs.max_ratio)
        files = expand_local_files(ctx, "unzip", archives, what="archive")
        if not files:
            return no_files(unzipped=[], dest_dir=str(dest))
        dest.mkdir(parents=True, exist_ok=True)
        meter = ctx.progress("bytes")
        unzipped: list[dict[str, Any]] = []
        for archive in files:
            _check_cancelled(ctx, "unzip")
            target = _target_dir(dest, src_dir, archive, inputs.private_zip_folder)
            staging = _staging_dir(dest, archive, target)
            shutil.rmtree(staging, ignore_errors=True)  # what a killed attempt left
            check_archive(archive, inputs.members, limits, dest)
            target.mkdir(parents=True, exist_ok=True)
            staging.mkdir()
            try:
                result = _call(
                    connector.extract_zip,
                    ctx,
                    archive=archive,
                    dest_dir=staging,
                    password=inputs.password,
                    overwrite=True,
                    members=inputs.members,
                    limits=limits,
                    progress=meter.part(),
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
