"""``ProgressMeter``: the one throttle of ``step_progress`` (a monotonic clock, at most one report per interval)."""

from __future__ import annotations

import threading

from aetherflow.progress import ProgressMeter, ProgressReport


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def meter(interval: float, total: int | None = None) -> tuple[ProgressMeter, list[ProgressReport], FakeClock]:
    clock = FakeClock()
    reports: list[ProgressReport] = []
    return ProgressMeter(reports.append, "rows", interval=interval, total=total, clock=clock), reports, clock


def test_work_finished_within_the_interval_reports_nothing() -> None:
    progress, reports, clock = meter(10)
    for _ in range(1000):
        progress.add(5000)
        clock.now += 0.009

    assert reports == []
    assert progress.done == 5_000_000


def test_a_report_comes_once_the_interval_has_passed_with_the_count_total_and_rate() -> None:
    progress, reports, clock = meter(2, total=1000)
    progress.add(100)
    clock.now += 2.5
    progress.add(400)

    assert reports == [ProgressReport("rows", 500, 1000, 200.0, 2.5)]


def test_reports_are_at_most_one_per_interval_however_often_work_is_added() -> None:
    progress, reports, clock = meter(1)
    for _ in range(100):
        clock.now += 0.25
        progress.add(1)

    assert len(reports) == 25
    assert [r.done for r in reports[:3]] == [4, 8, 12]


def test_an_interval_of_zero_turns_reports_off() -> None:
    progress, reports, clock = meter(0)
    clock.now += 1e6
    progress.add(1)

    assert reports == []


def test_a_part_turns_its_running_totals_into_additions() -> None:
    progress, _, _ = meter(10)
    first, second = progress.part(), progress.part()
    first(100)
    first(250)
    second(40)
    first(300)

    assert progress.done == 340


def test_a_part_called_out_of_order_by_threads_still_ends_at_the_right_total() -> None:
    progress, _, _ = meter(10)
    part = progress.part()
    part(300)
    part(200)  # a late callback of an earlier chunk
    part(500)

    assert progress.done == 500


def test_counts_from_many_threads_are_all_kept() -> None:
    progress, _, _ = meter(10)

    def work() -> None:
        part = progress.part()
        for n in range(1, 10_001):
            part(n)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert progress.done == 80_000
