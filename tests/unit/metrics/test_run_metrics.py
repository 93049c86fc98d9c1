"""RunMetrics: which families each push carries and how events become values (container.md §6), no network."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from aetherflow.observability.metrics import JOB_STATUSES, RunInfo, RunMetrics
from tests.support.events import observe

JOBS = {"extract": ["pull"], "load": ["upload", "verify"]}


def families(registry: CollectorRegistry) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """{family name: {sorted labels: value}} as the registry would expose them."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for fam in text_string_to_metric_families(generate_latest(registry).decode()):
        out[fam.name] = {tuple(sorted(s.labels.items())): s.value for s in fam.samples}
    return out


def started(run_info: RunInfo | None = None, now: float = 1000.0) -> RunMetrics:
    metrics = RunMetrics("sales", JOBS, run_info=run_info, clock=lambda: now)
    observe(metrics, "run_start", {"flow_id": "sales", "run_id": "r1", "attempt": 2})
    return metrics


def ended(status: str) -> RunMetrics:
    metrics = started()
    observe(
        metrics,
        "step_end",
        {"job_id": "extract", "step_id": "pull", "status": "SUCCESS", "duration_ms": 1500, "attempts": 1},
    )
    observe(metrics, "job_end", {"job_id": "extract", "status": "SUCCESS", "duration_ms": 1600})
    observe(metrics, "run_summary", {"status": status, "exit_code": 0, "attempt": 2, "duration_ms": 1700, "jobs": []})
    return metrics


def test_start_push_carries_start_time_running_status_and_attempt_only() -> None:
    fams = families(started().start_registry())

    assert set(fams) == {"aetherflow_run_start_timestamp_seconds", "aetherflow_run_status", "aetherflow_run_attempt"}
    assert fams["aetherflow_run_attempt"] == {(): 2.0}
    assert fams["aetherflow_run_status"][(("status", "running"),)] == 1.0


def test_end_push_of_a_success_carries_every_run_family_including_last_success() -> None:
    fams = families(ended("SUCCESS").end_registry())

    assert set(fams) == {
        "aetherflow_run_start_timestamp_seconds",
        "aetherflow_run_end_timestamp_seconds",
        "aetherflow_run_duration_seconds",
        "aetherflow_run_status",
        "aetherflow_run_last_success_timestamp_seconds",
        "aetherflow_run_attempt",
        "aetherflow_job_status",
        "aetherflow_job_duration_seconds",
        "aetherflow_step_duration_seconds",
    }


def test_end_push_of_a_failure_or_interruption_leaves_out_last_success() -> None:
    for status in ("FAILED", "INTERRUPTED"):
        metrics = ended(status)

        fams = families(metrics.end_registry())

        assert "aetherflow_run_last_success_timestamp_seconds" not in fams
        assert fams["aetherflow_run_status"][(("status", status.lower()),)] == 1.0
        assert not metrics.succeeded


def test_run_status_is_one_hot_over_all_four_statuses() -> None:
    series = families(ended("FAILED").end_registry())["aetherflow_run_status"]

    assert series == {
        (("status", "running"),): 0.0,
        (("status", "success"),): 0.0,
        (("status", "failed"),): 1.0,
        (("status", "interrupted"),): 0.0,
    }


def test_every_declared_job_has_all_six_status_series_and_unrun_jobs_are_pending() -> None:
    series = families(ended("FAILED").end_registry())["aetherflow_job_status"]

    assert len(series) == len(JOBS) * len(JOB_STATUSES)
    assert series[(("job_id", "extract"), ("status", "success"))] == 1.0
    assert series[(("job_id", "load"), ("status", "pending"))] == 1.0
    assert sum(v for k, v in series.items() if dict(k)["job_id"] == "load") == 1.0


def test_durations_are_seconds_and_zero_for_steps_that_did_not_run() -> None:
    fams = families(ended("FAILED").end_registry())

    assert fams["aetherflow_job_duration_seconds"] == {(("job_id", "extract"),): 1.6, (("job_id", "load"),): 0.0}
    assert fams["aetherflow_step_duration_seconds"][(("job_id", "extract"), ("step_id", "pull"))] == 1.5
    assert fams["aetherflow_step_duration_seconds"][(("job_id", "load"), ("step_id", "verify"))] == 0.0


def test_the_run_summary_fills_jobs_whose_events_were_not_seen() -> None:
    metrics = started()
    observe(
        metrics,
        "run_summary",
        {
            "status": "FAILED",
            "attempt": 2,
            "duration_ms": 10,
            "jobs": [
                {
                    "job_id": "extract",
                    "status": "SUCCESS",
                    "duration_ms": 0,
                    "steps": [{"step_id": "pull", "status": "SUCCESS", "duration_ms": 0}],
                },
                {"job_id": "load", "status": "BLOCKED", "duration_ms": 0, "steps": []},
            ],
        },
    )

    series = families(metrics.end_registry())["aetherflow_job_status"]

    assert series[(("job_id", "extract"), ("status", "success"))] == 1.0
    assert series[(("job_id", "load"), ("status", "blocked"))] == 1.0


def test_overlap_push_carries_only_the_overlap_gauge_even_with_run_info() -> None:
    metrics = RunMetrics("sales", JOBS, run_info=RunInfo(job_name="j"), clock=lambda: 42.0)
    observe(metrics, "run_overlap", {"key": "flow:sales", "owner": "other", "expires_at": 100.0})

    assert families(metrics.overlap_registry()) == {"aetherflow_run_overlap_timestamp_seconds": {(): 42.0}}


def test_run_info_joins_start_and_end_pushes_when_enabled() -> None:
    metrics = started(RunInfo(job_name="sales-1", pod="sales-1-abc", namespace="batch", version="1.2.3"))

    info = families(metrics.start_registry())["aetherflow_run_info"]

    assert info == {
        (
            ("flow_id", "sales"),
            ("job_name", "sales-1"),
            ("namespace", "batch"),
            ("pod", "sales-1-abc"),
            ("run_id", "r1"),
            ("version", "1.2.3"),
        ): 1.0
    }


def test_other_events_are_ignored() -> None:
    metrics = started()

    observe(metrics, "step_retry", {"job_id": "extract", "step_id": "pull", "attempt": 2})
    observe(metrics, "lock_acquired", {"key": "flow:sales", "ttl_seconds": 600})

    assert not metrics.ended
