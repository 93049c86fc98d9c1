"""The ``jobs`` root is built once per job outcome, and follows every change of an outcome."""

from __future__ import annotations

from aetherflow.api import Status
from aetherflow.runner.job_views import JobResults
from aetherflow.runner.outcomes import JobOutcome


def test_a_finished_jobs_view_is_built_once_however_many_steps_read_it() -> None:
    results = JobResults()
    results["a"] = JobOutcome("a", Status.SUCCESS, {"n": 1})
    built: list[str] = []
    original = JobOutcome.view

    def counting(self: JobOutcome) -> dict[str, object]:
        built.append(self.job_id)
        return original(self)

    setattr(JobOutcome, "view", counting)  # noqa: B010 (a slots class: patch the class, not the instance)
    try:
        views = [results.views() for _ in range(50)]
    finally:
        setattr(JobOutcome, "view", original)  # noqa: B010

    assert views[-1] == {"a": {"status": "SUCCESS", "outputs": {"n": 1}}}
    assert built == ["a"]


def test_a_running_job_is_seen_with_its_final_status_once_it_ends() -> None:
    results = JobResults()
    running = JobOutcome("a", Status.RUNNING)
    results["a"] = running
    assert results.views()["a"]["status"] == "RUNNING"

    running.skip_reason, running.skip_trigger, running.status = "no rows", "step", Status.SKIPPED

    assert results.views()["a"] == {
        "status": "SKIPPED",
        "outputs": {},
        "skip_reason": "no rows",
        "skip_trigger": "step",
    }


def test_a_job_set_anew_by_a_reset_or_restore_replaces_its_cached_view() -> None:
    results = JobResults()
    results["a"] = JobOutcome("a", Status.FAILED)
    assert results.views()["a"]["status"] == "FAILED"

    results["a"] = JobOutcome("a", Status.SUCCESS, {"rows": 3})

    assert results.views()["a"] == {"status": "SUCCESS", "outputs": {"rows": 3}}


def test_the_view_dict_handed_out_is_a_copy_so_a_reader_cannot_change_the_next_one() -> None:
    results = JobResults()
    results["a"] = JobOutcome("a", Status.SUCCESS)
    results.views().pop("a")

    assert "a" in results.views()
