"""The upstream-compatible metrics hook: ``AETHERFLOW_METRICS_MODULE`` exposing ``METRICS``.

See docs/reference/observability.md.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from typing import Any

from aetherflow.errors import InputError, error_text
from aetherflow.events import Event, JobEnd, JobStart, RunStart, RunSummary, StepEnd, StepStart

log = logging.getLogger("aetherflow")

_CALLS: dict[type[Event], tuple[str, tuple[str, ...]]] = {
    RunStart: ("on_run_start", ()),
    JobStart: ("on_job_start", ("job_id",)),
    StepStart: ("on_step_start", ("job_id", "step_id", "step_type")),
    StepEnd: ("on_step_end", ("job_id", "step_id", "step_type", "status", "duration_ms")),
    JobEnd: ("on_job_end", ("job_id", "status", "duration_ms")),
}


class MetricsHook:
    """Calls the hook's ``on_*`` methods with keyword arguments; a failing hook is logged and ignored."""

    def __init__(self, metrics: Any) -> None:
        self.metrics = metrics

    @classmethod
    def load(cls, module: str) -> MetricsHook:
        """Import ``module`` and take its ``METRICS``; anything else is an input error (exit 2)."""
        try:
            metrics = importlib.import_module(module).METRICS
        except (ImportError, AttributeError):
            raise InputError(f"{module} must expose METRICS", loc="AETHERFLOW_METRICS_MODULE") from None
        except Exception as exc:  # noqa: BLE001 (the user's module failed while importing: their input to fix)
            raise InputError(
                f"{module} failed to import: {type(exc).__name__}: {exc}", loc="AETHERFLOW_METRICS_MODULE"
            ) from None
        return cls(metrics)

    def on_event(self, event: Event, fields: Mapping[str, Any]) -> None:
        """Translate a run event into the hook call of the same transition."""
        if isinstance(event, RunSummary):
            summary = {k: v for k, v in fields.items() if k != "event"}
            self._call("on_run_end", flow_id=fields.get("flow_id"), run_id=fields.get("run_id"), summary=summary)
            return
        spec = _CALLS.get(type(event))
        if spec is None:
            return
        method, keys = spec
        self._call(
            method, flow_id=fields.get("flow_id"), run_id=fields.get("run_id"), **{k: fields.get(k) for k in keys}
        )

    def _call(self, method: str, **kwargs: Any) -> None:
        fn = getattr(self.metrics, method, None)
        if fn is None:
            return
        try:
            fn(**kwargs)
        except Exception as exc:  # noqa: BLE001 (the hook must never change the run)
            log.warning(
                "metrics_hook_failed",
                extra={"event": "metrics_hook_failed", "fields": {"method": method, "error": error_text(exc)}},
            )
