"""RunMetrics + Pusher against a real Pushgateway: families, labels, values and push methods (container.md §6)."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from aetherflow.edge.pushgateway import Pusher, grouping_key
from aetherflow.observability.metrics import RunInfo, RunMetrics
from tests.servers.drip import ENDLESS_HEADERS, ENDLESS_TLS_RECORD, dripping_server
from tests.servers.httpserver import HttpTestServer
from tests.servers.pushgateway import Pushgateway, running_pushgateway
from tests.support.events import observe

pytestmark = pytest.mark.servers

FLOW = "sales"
JOBS = {"extract": ["pull", "check"], "load": ["upload"], "audit": ["count"]}


class FakeClock:
    """A settable clock so timestamps and durations are exact."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def play_run(
    metrics: RunMetrics,
    clock: FakeClock,
    *,
    status: str,
    jobs: Sequence[tuple[str, str, int, Sequence[tuple[str, str, int]]]],
    attempt: int = 1,
    run_duration: float = 12.5,
) -> None:
    """Feed the events of one run attempt: run_start, job/step ends, run_summary (as the runner emits them)."""
    observe(metrics, "run_start", {"flow_id": FLOW, "run_id": "nightly-1", "attempt": attempt, "resumed": attempt > 1})
    summary_jobs: list[dict[str, Any]] = []
    for job_id, job_status, job_ms, steps in jobs:
        observe(metrics, "job_start", {"flow_id": FLOW, "run_id": "nightly-1", "job_id": job_id})
        summary_steps = []
        for step_id, step_status, step_ms in steps:
            fields = {
                "flow_id": FLOW,
                "run_id": "nightly-1",
                "job_id": job_id,
                "step_id": step_id,
                "step_type": "external.process",
                "status": step_status,
                "duration_ms": step_ms,
                "attempts": 1,
            }
            observe(metrics, "step_end", fields)
            summary_steps.append({k: fields[k] for k in ("step_id", "step_type", "status", "duration_ms", "attempts")})
        observe(
            metrics,
            "job_end",
            {
                "flow_id": FLOW,
                "run_id": "nightly-1",
                "job_id": job_id,
                "status": job_status,
                "duration_ms": job_ms,
                "skip_reason": None,
                "error": None,
            },
        )
        summary_jobs.append({"job_id": job_id, "status": job_status, "duration_ms": job_ms, "steps": summary_steps})
    clock.now += run_duration
    observe(
        metrics,
        "run_summary",
        {
            "flow_id": FLOW,
            "run_id": "nightly-1",
            "status": status,
            "exit_code": 0 if status == "SUCCESS" else 1,
            "attempt": attempt,
            "duration_ms": round(run_duration * 1000),
            "jobs": summary_jobs,
        },
    )


def value(gateway: Pushgateway, family: str, **labels: str) -> float:
    """The one sample of ``family`` in the flow's group whose labels include ``labels``."""
    matches = [v for key, v in gateway.samples(family).items() if labels.items() <= dict(key).items()]
    assert len(matches) == 1, f"{family}{labels}: {gateway.samples(family)}"
    return matches[0]


def push_failures(caplog: pytest.LogCaptureFixture) -> list[tuple[int, dict[str, Any]]]:
    """(level, fields) of every ``metrics_push_failed`` event logged."""
    return [
        (r.levelno, dict(getattr(r, "fields", {})))
        for r in caplog.records
        if getattr(r, "event", None) == "metrics_push_failed"
    ]


def pusher_for(url: str, **kwargs: Any) -> Pusher:
    return Pusher(
        url,
        timeout_seconds=kwargs.pop("timeout_seconds", 2.0),
        attempts=kwargs.pop("attempts", 2),
        grouping_key=kwargs.pop("grouping_key", grouping_key(FLOW)),
        **kwargs,
    )


def new_metrics(clock: FakeClock, jobs: Mapping[str, Sequence[str]] = JOBS, **kwargs: Any) -> RunMetrics:
    return RunMetrics(FLOW, jobs, clock=clock, **kwargs)


SUCCESS_JOBS = [
    ("extract", "SUCCESS", 4000, [("pull", "SUCCESS", 3000), ("check", "SUCCESS", 500)]),
    ("load", "SUCCESS", 2500, [("upload", "SUCCESS", 2400)]),
    ("audit", "SKIPPED", 10, [("count", "SKIPPED", 5)]),
]
FAILED_JOBS = [
    ("extract", "SUCCESS", 4000, [("pull", "SUCCESS", 3000), ("check", "SUCCESS", 500)]),
    ("load", "FAILED", 2500, [("upload", "FAILED", 2400)]),
]


def test_start_push_reports_a_running_attempt_with_its_start_time(pushgateway: Pushgateway) -> None:
    clock = FakeClock()
    metrics = new_metrics(clock)
    observe(metrics, "run_start", {"flow_id": FLOW, "run_id": "nightly-1", "attempt": 3})

    ok = pusher_for(pushgateway.url).push_start(metrics.start_registry())

    assert ok
    assert value(pushgateway, "aetherflow_run_start_timestamp_seconds") == clock.now
    assert value(pushgateway, "aetherflow_run_attempt") == 3
    assert {dict(k)["status"]: v for k, v in pushgateway.samples("aetherflow_run_status").items()} == {
        "running": 1,
        "success": 0,
        "failed": 0,
        "interrupted": 0,
    }
    assert pushgateway.samples("aetherflow_job_status") == {}


def test_successful_run_pushes_every_family_with_one_hot_statuses_and_durations(pushgateway: Pushgateway) -> None:
    clock = FakeClock()
    metrics = new_metrics(clock)
    start = clock.now
    play_run(metrics, clock, status="SUCCESS", jobs=SUCCESS_JOBS)

    ok = pusher_for(pushgateway.url).push_end(metrics.end_registry(), replace=metrics.succeeded)

    assert ok
    assert metrics.succeeded
    assert value(pushgateway, "aetherflow_run_start_timestamp_seconds") == start
    assert value(pushgateway, "aetherflow_run_end_timestamp_seconds") == start + 12.5
    assert value(pushgateway, "aetherflow_run_duration_seconds") == 12.5
    assert value(pushgateway, "aetherflow_run_last_success_timestamp_seconds") == start + 12.5
    assert value(pushgateway, "aetherflow_run_status", status="success") == 1
    assert value(pushgateway, "aetherflow_run_status", status="running") == 0
    assert value(pushgateway, "aetherflow_job_status", job_id="audit", status="skipped") == 1
    assert len(pushgateway.samples("aetherflow_job_status")) == 3 * 6
    assert value(pushgateway, "aetherflow_job_duration_seconds", job_id="extract") == 4.0
    assert value(pushgateway, "aetherflow_step_duration_seconds", job_id="extract", step_id="pull") == 3.0


def test_every_pushed_series_is_grouped_by_job_and_flow_only(pushgateway: Pushgateway) -> None:
    clock = FakeClock()
    metrics = new_metrics(clock)
    play_run(metrics, clock, status="SUCCESS", jobs=SUCCESS_JOBS)

    pusher_for(pushgateway.url).push_end(metrics.end_registry(), replace=True)

    [group] = pushgateway.groups()
    assert group["labels"] == {"job": "aetherflow", "flow": FLOW}


def test_jobs_that_did_not_run_are_pending_with_zero_durations(pushgateway: Pushgateway) -> None:
    clock = FakeClock()
    metrics = new_metrics(clock)
    play_run(metrics, clock, status="FAILED", jobs=FAILED_JOBS)

    pusher_for(pushgateway.url).push_end(metrics.end_registry(), replace=metrics.succeeded)

    assert value(pushgateway, "aetherflow_job_status", job_id="load", status="failed") == 1
    assert value(pushgateway, "aetherflow_job_status", job_id="audit", status="pending") == 1
    assert value(pushgateway, "aetherflow_job_status", job_id="audit", status="success") == 0
    assert value(pushgateway, "aetherflow_job_duration_seconds", job_id="audit") == 0
    assert value(pushgateway, "aetherflow_step_duration_seconds", job_id="audit", step_id="count") == 0


def test_failed_run_keeps_the_last_success_time_of_the_previous_success(pushgateway: Pushgateway) -> None:
    clock = FakeClock()
    first = new_metrics(clock)
    play_run(first, clock, status="SUCCESS", jobs=SUCCESS_JOBS)
    pusher_for(pushgateway.url).push_end(first.end_registry(), replace=first.succeeded)
    success_time = clock.now
    clock.now += 3600
    second = new_metrics(clock)
    play_run(second, clock, status="FAILED", jobs=FAILED_JOBS)

    pusher_for(pushgateway.url).push_end(second.end_registry(), replace=second.succeeded)

    assert value(pushgateway, "aetherflow_run_last_success_timestamp_seconds") == success_time
    assert value(pushgateway, "aetherflow_run_end_timestamp_seconds") == clock.now
    assert value(pushgateway, "aetherflow_run_status", status="failed") == 1
    assert value(pushgateway, "aetherflow_run_status", status="success") == 0


def test_success_replaces_the_group_so_removed_jobs_and_the_overlap_gauge_disappear(pushgateway: Pushgateway) -> None:
    clock = FakeClock()
    old = new_metrics(clock)
    play_run(old, clock, status="SUCCESS", jobs=SUCCESS_JOBS)
    pusher_for(pushgateway.url).push_end(old.end_registry(), replace=True)
    refused = new_metrics(clock)
    observe(refused, "run_overlap", {"key": f"flow:{FLOW}", "owner": "nightly-1", "expires_at": 0})
    pusher_for(pushgateway.url).push_overlap(refused.overlap_registry())
    new = new_metrics(clock, {"extract": ["pull"]})
    play_run(new, clock, status="SUCCESS", jobs=[("extract", "SUCCESS", 10, [("pull", "SUCCESS", 5)])])

    pusher_for(pushgateway.url).push_end(new.end_registry(), replace=new.succeeded)

    assert {dict(k)["job_id"] for k in pushgateway.samples("aetherflow_job_status")} == {"extract"}
    assert {dict(k)["step_id"] for k in pushgateway.samples("aetherflow_step_duration_seconds")} == {"pull"}
    assert pushgateway.samples("aetherflow_run_overlap_timestamp_seconds") == {}


def test_overlap_push_adds_its_gauge_and_leaves_the_live_runs_series_alone(pushgateway: Pushgateway) -> None:
    clock = FakeClock()
    live = new_metrics(clock)
    observe(live, "run_start", {"flow_id": FLOW, "run_id": "nightly-1", "attempt": 1})
    pusher_for(pushgateway.url).push_start(live.start_registry())
    clock.now += 60
    refused = new_metrics(clock)
    observe(refused, "run_overlap", {"key": f"flow:{FLOW}", "owner": "nightly-1", "expires_at": clock.now + 600})

    ok = pusher_for(pushgateway.url).push_overlap(refused.overlap_registry())

    assert ok
    assert value(pushgateway, "aetherflow_run_overlap_timestamp_seconds") == clock.now
    assert value(pushgateway, "aetherflow_run_status", status="running") == 1
    assert value(pushgateway, "aetherflow_run_start_timestamp_seconds") == clock.now - 60


def test_namespace_joins_the_grouping_key_when_enabled(pushgateway: Pushgateway) -> None:
    clock = FakeClock()
    metrics = new_metrics(clock)
    observe(metrics, "run_start", {"flow_id": FLOW, "run_id": "nightly-1", "attempt": 1})

    pusher_for(pushgateway.url, grouping_key=grouping_key(FLOW, "batch")).push_start(metrics.start_registry())

    [group] = pushgateway.groups()
    assert group["labels"] == {"job": "aetherflow", "flow": FLOW, "namespace": "batch"}


def test_run_info_carries_the_run_identity_only_when_enabled(pushgateway: Pushgateway) -> None:
    clock = FakeClock()
    info = RunInfo(job_name="sales-29012345", pod="sales-29012345-abcde", namespace="batch", version="9.9.9")
    with_info = new_metrics(clock, run_info=info)
    observe(with_info, "run_start", {"flow_id": FLOW, "run_id": "sales-29012345", "attempt": 1})
    pusher_for(pushgateway.url).push_start(with_info.start_registry())

    [labels] = pushgateway.samples("aetherflow_run_info")

    assert dict(labels) == {
        "job": "aetherflow",
        "flow": FLOW,
        "instance": "",
        "run_id": "sales-29012345",
        "flow_id": FLOW,
        "job_name": "sales-29012345",
        "pod": "sales-29012345-abcde",
        "namespace": "batch",
        "version": "9.9.9",
    }
    pushgateway.wipe()
    without = new_metrics(clock)
    observe(without, "run_start", {"flow_id": FLOW, "run_id": "sales-29012345", "attempt": 1})
    pusher_for(pushgateway.url).push_start(without.start_registry())
    assert pushgateway.samples("aetherflow_run_info") == {}


def test_push_with_user_info_in_the_url_authenticates_with_basic_auth() -> None:
    clock = FakeClock()
    metrics = new_metrics(clock)
    observe(metrics, "run_start", {"flow_id": FLOW, "run_id": "nightly-1", "attempt": 1})
    with running_pushgateway(basic_auth=("pusher", "s3cret-pw")) as gateway:
        url = gateway.url.replace("http://", "http://pusher:s3cret-pw@")

        ok = pusher_for(url).push_start(metrics.start_registry())

        assert ok
        assert value(gateway, "aetherflow_run_attempt") == 1


def test_rejected_credentials_log_the_url_without_user_info_or_password(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    metrics = new_metrics(clock)
    observe(metrics, "run_start", {"flow_id": FLOW, "run_id": "nightly-1", "attempt": 1})
    with running_pushgateway(basic_auth=("pusher", "right-pw")) as gateway:
        url = gateway.url.replace("http://", "http://pusher:wrong-pw@")

        with caplog.at_level(logging.WARNING, logger="aetherflow"):
            ok = pusher_for(url).push_start(metrics.start_registry())

    assert not ok
    [(_, fields)] = push_failures(caplog)
    assert fields["url"] == gateway.url
    assert "401" in fields["error"]
    assert "wrong-pw" not in str(fields) and "pusher" not in fields["url"]


def test_a_down_gateway_costs_one_warning_and_never_raises(
    dead_gateway_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    metrics = new_metrics(clock)
    play_run(metrics, clock, status="SUCCESS", jobs=SUCCESS_JOBS)
    pauses: list[float] = []
    pusher = pusher_for(dead_gateway_url, sleep=pauses.append)

    with caplog.at_level(logging.WARNING, logger="aetherflow"):
        ok = pusher.push_end(metrics.end_registry(), replace=True)

    assert not ok
    [(level, fields)] = push_failures(caplog)
    assert level == logging.WARNING
    assert fields["url"] == dead_gateway_url
    assert fields["attempts"] == 2
    assert fields["error"].startswith("URLError: ")
    assert len(pauses) == 1 and 0.5 <= pauses[0] <= 1.5


def test_after_a_failed_push_later_pushes_make_a_single_attempt(
    dead_gateway_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    metrics = new_metrics(clock)
    observe(metrics, "run_start", {"flow_id": FLOW, "run_id": "nightly-1", "attempt": 1})
    pauses: list[float] = []
    pusher = pusher_for(dead_gateway_url, attempts=5, sleep=pauses.append)
    pusher.push_start(metrics.start_registry())
    play_run(metrics, clock, status="FAILED", jobs=FAILED_JOBS)

    with caplog.at_level(logging.WARNING, logger="aetherflow"):
        pusher.push_end(metrics.end_registry(), replace=False)

    assert [fields["attempts"] for _, fields in push_failures(caplog)] == [1, 1]
    assert pauses == []


def test_a_hanging_gateway_is_bounded_by_timeout_attempts_and_pauses(hanging_gateway_url: str) -> None:
    clock = FakeClock()
    metrics = new_metrics(clock)
    play_run(metrics, clock, status="SUCCESS", jobs=SUCCESS_JOBS)
    pusher = pusher_for(hanging_gateway_url, timeout_seconds=0.5, attempts=2)

    began = time.monotonic()
    ok = pusher.push_end(metrics.end_registry(), replace=True)
    elapsed = time.monotonic() - began

    assert not ok
    # two 0.5 s timeouts and one pause of 0.5-1.5 s; generous margin for a loaded machine
    assert 1.4 <= elapsed < 2.5 + 2.0


#: scheduling delays on a loaded test machine; without the bound a dripping gateway holds a push for hours
LOAD_MARGIN = 1.0


def push_bound(timeout: float, attempts: int) -> float:
    """The most one push may cost, whatever the gateway does."""
    return timeout * attempts + 1.5 * (attempts - 1) + 1


def test_a_gateway_dripping_its_answer_is_bounded_by_timeout_attempts_and_pauses(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    metrics = new_metrics(clock)
    play_run(metrics, clock, status="SUCCESS", jobs=SUCCESS_JOBS)
    with dripping_server(ENDLESS_HEADERS, interval=0.2) as server:
        pusher = pusher_for(server.url, timeout_seconds=0.6, attempts=2)

        began = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="aetherflow"):
            ok = pusher.push_end(metrics.end_registry(), replace=True)
        elapsed = time.monotonic() - began

    assert not ok
    assert len(server.accepted) == 2
    [(_, fields)] = push_failures(caplog)
    assert fields["attempts"] == 2
    assert fields["error"] == "TimeoutError: no complete answer within 0.6s"
    assert 0.6 * 2 + 0.5 <= elapsed <= push_bound(0.6, 2) + LOAD_MARGIN


def test_a_gateway_dripping_a_tls_handshake_is_bounded_as_well() -> None:
    clock = FakeClock()
    metrics = new_metrics(clock)
    observe(metrics, "run_start", {"flow_id": FLOW, "run_id": "nightly-1", "attempt": 1})
    with dripping_server(ENDLESS_TLS_RECORD, interval=0.2) as server:
        pusher = pusher_for(server.url.replace("http://", "https://"), timeout_seconds=0.6, attempts=1)

        began = time.monotonic()
        ok = pusher.push_start(metrics.start_registry())
        elapsed = time.monotonic() - began

    assert not ok
    assert elapsed <= push_bound(0.6, 1) + LOAD_MARGIN


def test_basic_credentials_of_the_gateway_url_are_not_sent_on_to_a_redirect_target(
    http_server: HttpTestServer,
) -> None:
    clock = FakeClock()
    metrics = new_metrics(clock)
    observe(metrics, "run_start", {"flow_id": FLOW, "run_id": "nightly-1", "attempt": 1})
    url = http_server.url.replace("http://", "http://pusher:s3cret-pw@") + "/bounce"
    before = len(http_server.requests_to(http_server.other_url, "/echo"))

    pusher_for(url, attempts=1).push_start(metrics.start_registry())

    [front] = [r for r in http_server.state.requests if r["path"].startswith("/bounce/metrics/job/aetherflow")][-1:]
    assert front["headers"]["Authorization"] == "Basic " + base64.b64encode(b"pusher:s3cret-pw").decode()
    [behind] = http_server.requests_to(http_server.other_url, "/echo")[before:]
    assert "Authorization" not in behind["headers"]
