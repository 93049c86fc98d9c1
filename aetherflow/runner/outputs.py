"""Output documents of steps and jobs: copied when promoted, checked and encoded before they are stored.

A promoted value is a snapshot: ``{{job.outputs}}``, ``{{jobs}}`` or ``{{steps}}`` render to the runner's live
mappings, and storing those would make the outputs contain themselves. Every stored document (a step's outputs, a
step's promoted outputs, a job's outputs) must fit ``AETHERFLOW_STATE_MAX_OUTPUT_BYTES``; one that does not fails
its step or job for good, since a rerun would produce it again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aetherflow.errors import OutputError, OutputTooLarge
from aetherflow.redaction import Redactor
from aetherflow.state.encoding import CircularValue, encode_json


class OutputDocuments:
    """Snapshots and the stored JSON text of output documents, under one redactor and one size limit."""

    def __init__(self, redactor: Redactor, limit: int) -> None:
        self.redactor = redactor
        self.limit = limit

    def snapshot(self, value: Any, document: str) -> Any:
        """A copy of nested mappings and lists (leaves shared); raises OutputError for a value containing itself."""
        try:
            return _copy(value, set())
        except CircularValue as exc:
            raise OutputError(f"{document} contain themselves ({exc})") from None
        except RecursionError:
            raise OutputError(f"{document} are nested too deeply to store") from None

    def encode(self, value: Any, document: str) -> str:
        """The redacted JSON text to store; raises OutputError or OutputTooLarge naming ``document``."""
        try:
            text = encode_json(value, self.redactor.mask_obj)
        except CircularValue as exc:
            raise OutputError(f"{document} contain themselves ({exc})") from None
        except RecursionError:
            raise OutputError(f"{document} are nested too deeply to store") from None
        size = len(text.encode("utf-8"))
        if size > self.limit:
            raise OutputTooLarge(f"{document} are {size} bytes, over AETHERFLOW_STATE_MAX_OUTPUT_BYTES={self.limit}")
        return text


def _copy(value: Any, open_ids: set[int]) -> Any:
    if not isinstance(value, Mapping | list | tuple):
        return value
    key = id(value)
    if key in open_ids:
        raise CircularValue(f"a {type(value).__name__} contains itself")
    open_ids.add(key)
    try:
        if isinstance(value, Mapping):
            return {k: _copy(v, open_ids) for k, v in value.items()}
        items = [_copy(v, open_ids) for v in value]
        return tuple(items) if isinstance(value, tuple) else items
    finally:
        open_ids.discard(key)
