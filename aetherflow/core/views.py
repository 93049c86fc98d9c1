"""What a legacy (aetherflow-core 0.0.14) plugin receives from the run: input values and the connector context.

Upstream handed a step the previous step's ``RemoteFileMeta`` objects themselves, so plugins read ``m.rel_path``;
here outputs travel through templating, input validation and the state store (a resumed run restores them as JSON),
so a file entry may arrive as a dataclass or as a plain mapping. ``legacy_inputs`` turns both into the same
``FileMetaView``: a ``dict`` (item access, ``get``, JSON as before) that also answers the ``RemoteFileMeta`` fields
as attributes, so a plugin sees the same thing on a fresh run and after a resume.

Import-light on purpose: standard library and ``aetherflow.api`` only.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from aetherflow import api

__all__ = ["FILE_META_FIELDS", "FileMetaView", "LegacyConnectorContext", "legacy_inputs"]

FILE_META_FIELDS = frozenset(f.name for f in dataclasses.fields(api.RemoteFileMeta))


class FileMetaView(dict[str, Any]):
    """A remote file entry: a dict whose ``RemoteFileMeta`` fields also read as attributes (absent ones as None)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name in FILE_META_FIELDS:
            return self.get(name)
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def replace(self, **changes: Any) -> FileMetaView:
        """A copy with ``changes`` applied (what ``dataclasses.replace`` does for the dataclass)."""
        unknown = sorted(set(changes) - FILE_META_FIELDS)
        if unknown:
            raise TypeError(f"unknown RemoteFileMeta fields: {unknown}")
        return FileMetaView({**self, **changes})


def _is_file_meta_mapping(value: Mapping[Any, Any]) -> bool:
    # The shape of a dumped RemoteFileMeta: only its field names, at least one of the path-like ones.
    keys = set(value)
    return bool(keys) and keys <= FILE_META_FIELDS and bool(keys & {"path", "rel_path", "name"})


def legacy_inputs(value: Any) -> Any:
    """``value`` with every ``RemoteFileMeta`` (object or dumped mapping) as a ``FileMetaView``, recursively."""
    if isinstance(value, api.RemoteFileMeta):
        return FileMetaView(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        if not isinstance(value, FileMetaView) and _is_file_meta_mapping(value):
            return FileMetaView(value)
        return {k: legacy_inputs(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [legacy_inputs(v) for v in value]
    return value


class LegacyConnectorContext:
    """The connector context of the run plus upstream's ``log`` (a logger named after the resource's driver)."""

    def __init__(self, ctx: Any, kind: str, driver: str) -> None:
        self._ctx = ctx
        self.log = logging.getLogger(f"aetherflow.plugins.connectors.{kind}.{driver}")

    def __getattr__(self, name: str) -> Any:
        if name == "_ctx":  # not built yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self._ctx, name)
