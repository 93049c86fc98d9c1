"""Run events: one bus that logs each event and fans it out to observers (metrics, the metrics hook).

The runner calls ``emit`` right after the state write of the same transition. Every event is a stable name plus the
fields of docs/reference/observability.md; ``flow_id`` and ``run_id`` are added to every event once known.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from aetherflow.errors import error_text

log = logging.getLogger("aetherflow")

_LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING, "ERROR": logging.ERROR}


class Observer(Protocol):
    """Something that watches run events (metrics, hooks). Must not raise; the bus guards it anyway."""

    def on_event(self, event: str, fields: Mapping[str, Any]) -> None: ...


class EventBus:
    """Logs events through the ``aetherflow`` logger and hands them to observers."""

    def __init__(self, observers: list[Observer] | None = None, *, mask: Callable[[Any], Any] | None = None) -> None:
        self.observers: list[Observer] = list(observers or [])
        self.common: dict[str, Any] = {}
        # observers (a user's metrics hook) see masked fields: what they forward leaves the process
        self._mask = mask

    def bind(self, **fields: Any) -> None:
        """Fields added (first) to every later event, e.g. flow_id and run_id."""
        self.common.update(fields)

    def emit(self, event: str, *, level: str = "INFO", **fields: Any) -> None:
        """Log ``event`` at ``level`` and notify observers."""
        data = {**self.common, **fields}
        levelno = _LEVELS.get(level, logging.INFO)
        if log.isEnabledFor(levelno):
            log.log(levelno, event, extra={"event": event, "fields": data})
        if self.observers and self._mask is not None:
            data = self._mask(data)
        for observer in self.observers:
            try:
                observer.on_event(event, data)
            except Exception as exc:  # noqa: BLE001 (an observer must never break the run)
                log.warning(
                    "metrics_hook_failed",
                    extra={"event": "metrics_hook_failed", "fields": {"method": event, "error": error_text(exc)}},
                )
