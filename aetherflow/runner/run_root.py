"""The ``run`` root of templates and ``when``: ``run.id``, ``run.attempt``, ``run.scheduled_at`` and ``run.date``.

``scheduled_at`` is the schedule slot when one is known (the CronJob's Job name, or AETHERFLOW_SCHEDULED_AT), else the
run's first start; the store fixes it at the first attempt, so a retry in another pod, on another day, renders the same
``run.date``. ``run.date`` is that instant's calendar date in the flow's time zone (from the ``tzdata`` package).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aetherflow.spec.timezones import load_zone

__all__ = ["differing_slot", "run_date", "run_view", "same_instant", "scheduled_at_text"]


def scheduled_at_text(slot: float) -> str:
    """RFC 3339 UTC of Unix seconds ``slot``: whole seconds, milliseconds only when the slot has them."""
    moment = datetime.fromtimestamp(round(slot, 3), UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    millis = moment.microsecond // 1000
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


def _parse(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def run_date(scheduled_at: str, timezone: str) -> str:
    """``YYYY-MM-DD`` of the instant ``scheduled_at`` in the IANA zone ``timezone``."""
    return _parse(scheduled_at).astimezone(load_zone(timezone)).strftime("%Y-%m-%d")


def same_instant(stored: str, slot: float) -> bool:
    """Whether the stored ``scheduled_at`` is the instant ``slot`` (to the millisecond)."""
    return round(_parse(stored).timestamp(), 3) == round(slot, 3)


def differing_slot(stored: str | None, slot: float | None) -> str | None:
    """The slot as text when a resume is given one that differs from the stored ``scheduled_at`` (else None).

    The stored value wins all the same; the caller warns, because a different slot on a retry means the caller
    (a script setting AETHERFLOW_SCHEDULED_AT) believes the run is another one.
    """
    if stored is None or slot is None or same_instant(stored, slot):
        return None
    return scheduled_at_text(slot)


def run_view(run_id: str, attempt: int, scheduled_at: str, timezone: str) -> dict[str, Any]:
    """The mapping templates read as ``run`` and ``when`` reads as ``run.<key>``."""
    return {
        "id": run_id,
        "attempt": attempt,
        "scheduled_at": scheduled_at,
        "date": run_date(scheduled_at, timezone),
    }
