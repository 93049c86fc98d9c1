"""Schedule slots and the ``schedule`` grouping label, from what the chart passes to a CronJob's pods.

The CronJob controller names each Job ``<CronJob name>-<slot in minutes since the epoch>``; the chart passes the
CronJob name as ``AETHERFLOW_SCHEDULE_NAME``. So a Job whose name is exactly that name, a dash and digits was created
by the schedule, and its digits are the slot it was created for: "the 02:00 run started at 02:07" becomes a number.
Any other Job of the release (a manual ``kubectl create job --from=cronjob/…``) has no slot and is grouped as
``<CronJob name>-manual``, so a manual run never overwrites the series of its schedule. ``AETHERFLOW_SCHEDULED_AT``
(RFC 3339) overrides the slot for callers that know it another way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from aetherflow.errors import InputError

_SCHEDULED_AT = "AETHERFLOW_SCHEDULED_AT"


@dataclass(frozen=True, slots=True)
class Schedule:
    """What a run knows about the schedule that started it."""

    #: the ``schedule`` grouping label: the CronJob name, or ``<name>-manual`` for other Jobs; None outside a CronJob
    label: str | None
    #: the slot in Unix seconds, when known
    slot: float | None


def schedule_of(schedule_name: str | None, job_name: str | None, scheduled_at: str | None) -> Schedule:
    """The schedule label and slot of this run (InputError when ``AETHERFLOW_SCHEDULED_AT`` is not RFC 3339)."""
    slot = _cronjob_slot(schedule_name, job_name)
    label: str | None = None
    if schedule_name:
        label = schedule_name if slot is not None else f"{schedule_name}-manual"
    if scheduled_at:
        slot = parse_rfc3339(scheduled_at, setting=_SCHEDULED_AT)
    return Schedule(label=label, slot=slot)


def _cronjob_slot(schedule_name: str | None, job_name: str | None) -> float | None:
    if not schedule_name or not job_name:
        return None
    match = re.fullmatch(re.escape(schedule_name) + r"-([0-9]{1,12})", job_name)
    return float(int(match.group(1)) * 60) if match else None


def parse_rfc3339(text: str, *, setting: str) -> float:
    """Unix seconds of an RFC 3339 time with an offset (``Z`` or ``±HH:MM``); InputError naming ``setting`` else."""
    value = text.strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None or "T" not in value.upper():
        raise InputError(
            f"{setting}: {text!r} is not an RFC 3339 time with an offset (e.g. 2026-03-01T02:00:00Z)", loc=setting
        )
    return parsed.astimezone(UTC).timestamp()
