"""Schedule slots and the ``schedule`` grouping label from the CronJob name the chart passes."""

from __future__ import annotations

import pytest

from aetherflow.edge.schedule import Schedule, schedule_of
from aetherflow.errors import InputError

#: 2026-03-01T02:00:00Z in minutes since the epoch, as the CronJob controller appends it to the Job name
SLOT_MINUTES = 29_538_840


def test_a_job_named_schedule_dash_minutes_was_created_by_the_cronjob_for_that_slot() -> None:
    schedule = schedule_of("etl-nightly", f"etl-nightly-{SLOT_MINUTES}", None)
    assert schedule == Schedule(label="etl-nightly", slot=SLOT_MINUTES * 60.0)


def test_a_manual_job_of_the_schedule_has_no_slot_and_its_own_group() -> None:
    schedule = schedule_of("etl-nightly", "etl-nightly-manual-1772330400", None)
    assert schedule == Schedule(label="etl-nightly-manual", slot=None)


def test_a_job_of_another_cronjob_with_the_same_prefix_is_not_this_schedules_slot() -> None:
    assert schedule_of("etl", f"etl-nightly-{SLOT_MINUTES}", None).slot is None


def test_outside_a_cronjob_there_is_no_label_and_no_slot() -> None:
    assert schedule_of(None, "some-job-123", None) == Schedule(label=None, slot=None)


def test_scheduled_at_overrides_the_slot_of_the_job_name() -> None:
    schedule = schedule_of("etl-nightly", f"etl-nightly-{SLOT_MINUTES}", "2026-03-01T03:30:00+01:00")
    assert schedule.slot == SLOT_MINUTES * 60.0 + 30 * 60


@pytest.mark.parametrize("bad", ["yesterday", "2026-03-01", "2026-03-01T02:00:00", "2026-13-01T02:00:00Z", "\x00"])
def test_a_scheduled_at_that_is_not_rfc3339_with_an_offset_is_an_input_error_naming_the_setting(bad: str) -> None:
    with pytest.raises(InputError, match="AETHERFLOW_SCHEDULED_AT"):
        schedule_of(None, None, bad)
