"""The ``run`` root's values: ``scheduled_at`` as RFC 3339 UTC and ``run.date`` in the flow's IANA time zone, with
zones read from the ``tzdata`` package whatever the operating system has."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aetherflow.runner.run_root import differing_slot, run_date, run_view, same_instant, scheduled_at_text
from aetherflow.spec.timezones import load_zone, zone_problem


def test_a_slot_is_written_as_rfc3339_utc_in_whole_seconds() -> None:
    assert scheduled_at_text(1772330400.0) == "2026-03-01T02:00:00Z"
    assert scheduled_at_text(1772330400.25) == "2026-03-01T02:00:00.250Z"


def test_the_date_near_midnight_depends_on_the_time_zone() -> None:
    late = "2026-03-01T23:30:00Z"

    assert run_date(late, "UTC") == "2026-03-01"
    assert run_date(late, "Europe/Berlin") == "2026-03-02"
    assert run_date("2026-03-01T02:00:00.000Z", "America/New_York") == "2026-02-28"


def test_the_run_view_has_exactly_the_four_keys() -> None:
    view = run_view("r-1", 2, "2026-07-01T22:30:00Z", "Asia/Tokyo")

    assert view == {"id": "r-1", "attempt": 2, "scheduled_at": "2026-07-01T22:30:00Z", "date": "2026-07-02"}


def test_the_same_instant_in_another_notation_is_not_a_difference() -> None:
    assert same_instant("2026-03-01T02:00:00.000Z", 1772330400.0)
    assert not same_instant("2026-03-01T02:00:00Z", 1772330460.0)


@pytest.mark.parametrize(
    "name",
    ["Mars/Olympus", "", "../../etc/passwd", "Europe/../../../etc/passwd", "europe/berlin", "UTC\x00", "x" * 5000],
)
def test_a_name_outside_the_packaged_database_is_refused_in_one_line(name: str) -> None:
    problem = zone_problem(name)

    assert problem is not None and "\n" not in problem and len(problem) < 200
    with pytest.raises(ValueError):
        load_zone(name)


def test_zones_come_from_tzdata_even_when_the_os_database_says_otherwise(tmp_path: Path) -> None:
    # a hostile "OS" database in which Europe/Berlin is UTC: zoneinfo itself would believe it
    utc = Path(sys.prefix, "lib").glob("python3*/site-packages/tzdata/zoneinfo/UTC")
    fake = tmp_path / "zoneinfo" / "Europe" / "Berlin"
    fake.parent.mkdir(parents=True)
    fake.write_bytes(next(utc).read_bytes())
    code = (
        "import json, zoneinfo\n"
        "from aetherflow.runner.run_root import run_date\n"
        "print(json.dumps([run_date('2026-03-01T23:30:00Z', 'Europe/Berlin'),"
        " str(zoneinfo.ZoneInfo('Europe/Berlin').utcoffset(None))]))\n"
    )
    env = {**os.environ, "PYTHONTZPATH": str(tmp_path / "zoneinfo")}

    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)

    ours, os_view = json.loads(out.stdout)
    assert os_view == "0:00:00"  # the fake database is what the OS route reads
    assert ours == "2026-03-02"


def test_only_a_differing_slot_on_a_resume_is_reported() -> None:
    assert differing_slot("2026-03-01T02:00:00Z", 1772330460.0) == "2026-03-01T02:01:00Z"
    assert differing_slot("2026-03-01T02:00:00.000Z", 1772330400.0) is None
    assert differing_slot(None, 1772330460.0) is None
    assert differing_slot("2026-03-01T02:00:00Z", None) is None
