"""Trigger rules decide, from the dependencies' statuses in this run, whether a job runs, is BLOCKED or SKIPPED."""

from __future__ import annotations

from aetherflow.runner.triggers import ONE_FAILED_SKIP_REASON, Dependency, gate

OK = Dependency("a", "SUCCESS")
FAILED = Dependency("f", "FAILED")
SKIPPED = Dependency("s", "SKIPPED")
BLOCKED_BY_FAILURE = Dependency("b", "BLOCKED", blocked_by_failure=True)
BLOCKED_BY_SKIP = Dependency("q", "BLOCKED", blocked_by_failure=False)
NO_RECORD = Dependency("n", None)
INTERRUPTED = Dependency("i", "INTERRUPTED")


def test_all_success_runs_only_behind_successes() -> None:
    assert gate("all_success", [OK]).run
    assert gate("all_success", []).run


def test_all_success_is_blocked_by_a_failure_naming_every_unsatisfied_dependency_in_order() -> None:
    decision = gate("all_success", [FAILED, OK, SKIPPED])

    assert (decision.run, decision.status) == (False, "BLOCKED")
    assert decision.reason == "blocked by: f (FAILED), s (SKIPPED)"
    assert decision.blocked_by_failure


def test_all_success_behind_skipped_work_only_is_a_quiet_block() -> None:
    decision = gate("all_success", [SKIPPED, BLOCKED_BY_SKIP])

    assert decision.status == "BLOCKED" and not decision.blocked_by_failure


def test_all_done_runs_after_any_mix_of_final_statuses() -> None:
    assert gate("all_done", [OK, FAILED, SKIPPED, BLOCKED_BY_FAILURE, BLOCKED_BY_SKIP]).run


def test_one_failed_runs_after_a_failed_dependency() -> None:
    assert gate("one_failed", [OK, FAILED]).run


def test_one_failed_runs_behind_a_dependency_blocked_by_a_failure() -> None:
    assert gate("one_failed", [BLOCKED_BY_FAILURE]).run


def test_one_failed_is_skipped_with_the_trigger_reason_when_nothing_failed() -> None:
    decision = gate("one_failed", [OK, SKIPPED, BLOCKED_BY_SKIP])

    assert (decision.run, decision.status) == (False, "SKIPPED")
    assert decision.reason == ONE_FAILED_SKIP_REASON == "trigger=one_failed: no dependency failed"
    assert decision.skip_trigger == "trigger"


def test_a_dependency_without_a_record_blocks_the_job_whatever_its_rule() -> None:
    for trigger in ("all_success", "all_done", "one_failed"):
        decision = gate(trigger, [FAILED, NO_RECORD])
        assert decision.status == "BLOCKED", trigger
        assert "n (NOT_RUN)" in (decision.reason or "")
        assert decision.blocked_by_failure


def test_an_interrupted_dependency_blocks_a_handler_too() -> None:
    decision = gate("one_failed", [FAILED, INTERRUPTED])

    assert decision.status == "BLOCKED" and decision.reason == "blocked by: i (INTERRUPTED)"
