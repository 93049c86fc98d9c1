"""The kind end-to-end test logic (tests/e2e/cluster.py) run against an in-process Kubernetes API emulator.

Mock: a Kubernetes API server cannot run here, so kmock's KubernetesEmulator (a real HTTP server that the official
``kubernetes`` client talks to unchanged: CRUD, 404s, no controllers, no label selectors) stands in. Each test seeds
it with the Job and Pod objects a cluster would hold after the scenario (terminated container states, termination
messages, pod logs) and runs the same helper functions the e2e tests run on kind, including their failure paths.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.e2e import cluster
from tests.e2e.cluster import E2EFailure
from tests.unit.chart.emulator import NS, Emulator
from tests.unit.chart.rendering import CHART, cronjobs, rendered

CRONJOB = "aetherflow-e2e"
FLOW = "e2e"


def _success(run_id: str, attempt: int = 1) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "flow_id": FLOW,
        "status": "SUCCESS",
        "exit_code": 0,
        "attempt": attempt,
        "duration_seconds": 1.2,
        "counts": {"SUCCESS": 2},
        "failed": [],
    }


def _overlap(run_id: str, holder: str) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "flow_id": FLOW,
        "status": "OVERLAP",
        "exit_code": 75,
        "error": f"LockBusy: Lock not acquired: flow:{FLOW} (held by {holder})",
    }


def _event(event: str, run_id: str, **fields: Any) -> dict[str, Any]:
    return {"ts_ms": 1740794400123, "event": event, "level": "INFO", "flow_id": FLOW, "run_id": run_id, **fields}


def test_a_job_created_from_the_chart_cronjob_is_what_kubectl_create_job_from_makes(emulator: Emulator) -> None:
    (chart_cronjob,) = cronjobs(rendered(CHART / "ci" / "e2e-values.yaml"))
    seeded = copy.deepcopy(chart_cronjob)
    seeded["metadata"]["uid"] = "cronjob-uid-1"
    emulator.batch().create_namespaced_cron_job(NS, seeded)

    cluster.create_job_from_cronjob(
        emulator.api,
        NS,
        CRONJOB,
        "aetherflow-e2e-manual-1",
        env={"E2E_SLEEP_SECONDS": "45", "AETHERFLOW_LOG_LEVEL": "DEBUG"},
    )

    job = emulator.api.sanitize_for_serialization(emulator.batch().read_namespaced_job("aetherflow-e2e-manual-1", NS))
    template = chart_cronjob["spec"]["jobTemplate"]
    assert job["metadata"]["annotations"] == {"cronjob.kubernetes.io/instantiate": "manual"}
    assert job["metadata"]["ownerReferences"] == [
        {"apiVersion": "batch/v1", "kind": "CronJob", "name": CRONJOB, "uid": "cronjob-uid-1", "controller": True}
    ]
    assert job["metadata"]["labels"] == template["metadata"]["labels"]
    assert job["spec"]["podFailurePolicy"] == template["spec"]["podFailurePolicy"]
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    assert [e["value"] for e in env if e["name"] == "AETHERFLOW_LOG_LEVEL"] == ["DEBUG"]
    assert {"name": "E2E_SLEEP_SECONDS", "value": "45"} in env
    assert {e["name"] for e in env} >= {e["name"] for e in template["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_a_completed_run_with_a_success_message_passes(emulator: Emulator) -> None:
    emulator.job("run-ok", "Complete")
    emulator.pod("run-ok-abcde", "run-ok", created="2025-03-01T02:00:00Z", exit_code=0, message=_success("run-ok"))
    emulator.pod("other-xyz", "other", created="2025-03-01T02:00:05Z", exit_code=1, message="{}")

    assert cluster.assert_run_succeeded(emulator.api, NS, "run-ok")["status"] == "SUCCESS"


@pytest.mark.parametrize(
    "message",
    [
        {
            **_success("run-bad"),
            "status": "FAILED",
            "exit_code": 1,
            "failed": [{"job_id": "work", "step_id": "sleep", "error": "StepFailed: exit 1"}],
        },
        _success("someone-else"),
        "2025-03-01T02:00:01Z ERROR log tail from FallbackToLogsOnError",
    ],
    ids=["failed-run", "other-run-id", "not-json"],
)
def test_a_run_whose_message_is_not_this_runs_success_fails(emulator: Emulator, message: Any) -> None:
    emulator.job("run-bad", "Complete")
    emulator.pod("run-bad-abcde", "run-bad", created="2025-03-01T02:00:00Z", exit_code=0, message=message)

    with pytest.raises(E2EFailure):
        cluster.assert_run_succeeded(emulator.api, NS, "run-bad")


def test_an_overlap_refused_by_the_pod_failure_policy_passes_and_names_the_loser(emulator: Emulator) -> None:
    emulator.job("run-a", "Complete")
    emulator.pod("run-a-1", "run-a", created="2025-03-01T02:00:00Z", exit_code=0, message=_success("run-a"))
    emulator.job("run-b", "Failed", reason="PodFailurePolicy", failed=1)
    emulator.pod("run-b-1", "run-b", created="2025-03-01T02:00:01Z", exit_code=75, message=_overlap("run-b", "run-a"))

    assert cluster.assert_overlap_refused(emulator.api, NS, ("run-a", "run-b"), FLOW) == "run-b"


def test_an_overlap_that_was_retried_fails(emulator: Emulator) -> None:
    emulator.job("run-a", "Complete")
    emulator.pod("run-a-1", "run-a", created="2025-03-01T02:00:00Z", exit_code=0, message=_success("run-a"))
    emulator.job("run-b", "Failed", reason="PodFailurePolicy", failed=2)
    emulator.pod("run-b-1", "run-b", created="2025-03-01T02:00:01Z", exit_code=75, message=_overlap("run-b", "run-a"))
    emulator.pod("run-b-2", "run-b", created="2025-03-01T02:00:09Z", exit_code=75, message=_overlap("run-b", "run-a"))

    with pytest.raises(E2EFailure, match="must not be retried"):
        cluster.assert_overlap_refused(emulator.api, NS, ("run-a", "run-b"), FLOW)


def test_a_job_that_failed_by_backoff_instead_of_the_policy_fails_the_overlap_check(emulator: Emulator) -> None:
    emulator.job("run-a", "Complete")
    emulator.pod("run-a-1", "run-a", created="2025-03-01T02:00:00Z", exit_code=0, message=_success("run-a"))
    emulator.job("run-b", "Failed", reason="BackoffLimitExceeded", failed=1)
    emulator.pod("run-b-1", "run-b", created="2025-03-01T02:00:01Z", exit_code=75, message=_overlap("run-b", "run-a"))

    with pytest.raises(E2EFailure, match="not PodFailurePolicy"):
        cluster.assert_overlap_refused(emulator.api, NS, ("run-a", "run-b"), FLOW)


def test_two_successful_runs_are_not_an_overlap(emulator: Emulator) -> None:
    for name in ("run-a", "run-b"):
        emulator.job(name, "Complete")
        emulator.pod(f"{name}-1", name, created="2025-03-01T02:00:00Z", exit_code=0, message=_success(name))

    with pytest.raises(E2EFailure, match="one Complete and one Failed"):
        cluster.assert_overlap_refused(emulator.api, NS, ("run-a", "run-b"), FLOW)


def test_the_pod_running_the_slow_job_is_found_from_its_log_and_deleted(emulator: Emulator) -> None:
    emulator.job("run-r", None)
    emulator.pod(
        "run-r-1",
        "run-r",
        created="2025-03-01T02:00:00Z",
        logs=[
            _event("run_start", "run-r", attempt=1, resumed=False),
            _event("job_start", "run-r", job_id="prepare"),
            _event("job_end", "run-r", job_id="prepare", status="SUCCESS"),
            _event("step_start", "run-r", job_id="work", step_id="sleep", step_type="external.process", attempt=1),
        ],
    )

    pod = cluster.wait_for_event(emulator.api, NS, "run-r", "step_start", timeout=5, interval=0.1, job_id="work")
    assert pod == "run-r-1"
    cluster.delete_pod(emulator.api, NS, pod)
    assert cluster.job_pods(emulator.api, NS, "run-r") == []


def test_waiting_for_an_event_that_never_comes_times_out(emulator: Emulator) -> None:
    emulator.job("run-r", None)
    emulator.pod(
        "run-r-1", "run-r", created="2025-03-01T02:00:00Z", logs=[_event("job_start", "run-r", job_id="prepare")]
    )

    with pytest.raises(E2EFailure, match="timed out"):
        cluster.wait_for_event(emulator.api, NS, "run-r", "step_start", timeout=0.3, interval=0.1, job_id="work")


def _resumed_logs(run_id: str) -> list[dict[str, Any]]:
    return [
        _event("run_start", run_id, attempt=2, resumed=True),
        _event("job_restored", run_id, job_id="prepare", status="SUCCESS"),
        _event("job_end", run_id, job_id="prepare", status="SUCCESS"),
        _event("job_start", run_id, job_id="work"),
        _event("step_start", run_id, job_id="work", step_id="sleep", step_type="external.process", attempt=2),
        _event("job_end", run_id, job_id="work", status="SUCCESS"),
    ]


def test_a_replacement_pod_that_restored_the_completed_job_passes(emulator: Emulator) -> None:
    emulator.job("run-r", "Complete", failed=1)
    emulator.pod(
        "run-r-2",
        "run-r",
        created="2025-03-01T02:01:00Z",
        exit_code=0,
        message=_success("run-r", attempt=2),
        logs=_resumed_logs("run-r"),
    )

    msg = cluster.assert_resumed_without_repeating(
        emulator.api, NS, "run-r", deleted_pod="run-r-1", completed_job_id="prepare"
    )
    assert msg["attempt"] == 2


def test_a_replacement_pod_that_ran_the_completed_job_again_fails(emulator: Emulator) -> None:
    logs = [*_resumed_logs("run-r"), _event("step_start", "run-r", job_id="prepare", step_id="items", attempt=1)]
    emulator.job("run-r", "Complete", failed=1)
    emulator.pod(
        "run-r-2", "run-r", created="2025-03-01T02:01:00Z", exit_code=0, message=_success("run-r", attempt=2), logs=logs
    )

    with pytest.raises(E2EFailure, match="started again=1"):
        cluster.assert_resumed_without_repeating(
            emulator.api, NS, "run-r", deleted_pod="run-r-1", completed_job_id="prepare"
        )


def test_a_first_attempt_is_not_a_resumed_run(emulator: Emulator) -> None:
    emulator.job("run-r", "Complete")
    emulator.pod(
        "run-r-2",
        "run-r",
        created="2025-03-01T02:01:00Z",
        exit_code=0,
        message=_success("run-r", attempt=1),
        logs=_resumed_logs("run-r"),
    )

    with pytest.raises(E2EFailure, match="not a resumed run"):
        cluster.assert_resumed_without_repeating(
            emulator.api, NS, "run-r", deleted_pod="run-r-1", completed_job_id="prepare"
        )


PUSHGATEWAY_TEXT = """\
# HELP aetherflow_run_status Run status
# TYPE aetherflow_run_status gauge
aetherflow_run_status{flow="e2e",instance="",job="aetherflow",status="failed"} 0
aetherflow_run_status{flow="e2e",instance="",job="aetherflow",status="interrupted"} 0
aetherflow_run_status{flow="e2e",instance="",job="aetherflow",status="running"} 0
aetherflow_run_status{flow="e2e",instance="",job="aetherflow",status="success"} 1
# TYPE aetherflow_run_last_success_timestamp_seconds gauge
aetherflow_run_last_success_timestamp_seconds{flow="e2e",instance="",job="aetherflow"} 1.7407944e+09
# TYPE aetherflow_job_status gauge
aetherflow_job_status{flow="e2e",instance="",job="aetherflow",job_id="prepare",status="success"} 1
aetherflow_job_status{flow="e2e",instance="",job="aetherflow",job_id="work",status="success"} 1
aetherflow_job_status{flow="e2e",instance="",job="aetherflow",job_id="work",status="failed"} 0
# TYPE push_time_seconds gauge
push_time_seconds{flow="e2e",instance="",job="aetherflow"} 1.7407944e+09
"""


def test_metrics_read_through_the_service_proxy_show_the_successful_run(emulator: Emulator) -> None:
    emulator.text(f"/api/v1/namespaces/{NS}/services/pushgateway:9091/proxy/metrics", PUSHGATEWAY_TEXT)

    text = cluster.pushgateway_metrics(emulator.api, NS, "pushgateway", 9091)
    cluster.assert_flow_metrics_pushed(text, FLOW, job_ids=["prepare", "work"])


def test_metrics_of_a_failed_run_or_another_flow_fail_the_check() -> None:
    failed = PUSHGATEWAY_TEXT.replace('status="failed"} 0', 'status="failed"} 1').replace(
        'status="success"} 1', 'status="success"} 0'
    )
    with pytest.raises(E2EFailure, match="aetherflow_run_status"):
        cluster.assert_flow_metrics_pushed(failed, FLOW, job_ids=["prepare"])
    with pytest.raises(E2EFailure, match="flow 'sales'"):
        cluster.assert_flow_metrics_pushed(PUSHGATEWAY_TEXT, "sales", job_ids=["prepare"])


def test_waiting_for_an_unfinished_job_times_out_naming_its_pods(emulator: Emulator) -> None:
    emulator.job("run-slow", None)
    emulator.pod("run-slow-1", "run-slow", created="2025-03-01T02:00:00Z")

    with pytest.raises(E2EFailure, match="run-slow-1 phase=Running"):
        cluster.wait_for_job_finished(emulator.api, NS, "run-slow", timeout=0.3, interval=0.1)


def test_pods_of_other_jobs_are_not_counted_even_when_the_server_ignores_the_selector(emulator: Emulator) -> None:
    emulator.pod("mine-2", "mine", created="2025-03-01T02:00:10Z", exit_code=0, message="{}")
    emulator.pod("mine-1", "mine", created="2025-03-01T02:00:00Z", exit_code=1, message="{}")
    emulator.pod("theirs-1", "theirs", created="2025-03-01T01:59:00Z", exit_code=0, message="{}")

    assert [p.metadata.name for p in cluster.job_pods(emulator.api, NS, "mine")] == ["mine-1", "mine-2"]
