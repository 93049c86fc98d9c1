"""End to end on kind: the image, the chart and real Jobs (run by .github/workflows/e2e.yaml).

Each test starts manual Jobs from the e2e CronJob (helm/aetherflow/ci/e2e-values.yaml: flow ``e2e`` = job
``prepare`` then job ``work`` sleeping E2E_SLEEP_SECONDS) and checks what the cluster recorded; the checks live in
tests/e2e/cluster.py, which is also exercised offline against an API emulator.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e import cluster
from tests.e2e.cluster import E2EConfig

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def _job_name(e2e: E2EConfig, label: str) -> str:
    # Job names end up in a label value: at most 63 characters.
    return f"{e2e.cronjob}-{label}-{int(time.time() * 1000) % 10**8}"[-63:].lstrip("-")


@pytest.fixture(scope="module")
def successful_run(k8s: Any, e2e: E2EConfig) -> str:
    name = cluster.create_job_from_cronjob(
        k8s, e2e.namespace, e2e.cronjob, _job_name(e2e, "ok"), env={"E2E_SLEEP_SECONDS": "1"}
    )
    cluster.wait_for_job_finished(k8s, e2e.namespace, name, timeout=300)
    return name


def test_manual_run_from_the_cronjob_succeeds_with_a_success_termination_message(
    k8s: Any, e2e: E2EConfig, successful_run: str
) -> None:
    message = cluster.assert_run_succeeded(k8s, e2e.namespace, successful_run)
    assert message["flow_id"] == e2e.flow_id


def test_the_run_metrics_of_the_flow_reach_the_pushgateway(k8s: Any, e2e: E2EConfig, successful_run: str) -> None:
    text = cluster.pushgateway_metrics(k8s, e2e.namespace, e2e.pushgateway_service, e2e.pushgateway_port)
    cluster.assert_flow_metrics_pushed(text, e2e.flow_id, job_ids=["prepare", "work"])


def test_a_second_concurrent_run_exits_75_and_its_job_fails_without_retry(k8s: Any, e2e: E2EConfig) -> None:
    env = {"E2E_SLEEP_SECONDS": "45"}
    first = cluster.create_job_from_cronjob(k8s, e2e.namespace, e2e.cronjob, _job_name(e2e, "a"), env=env)
    second = cluster.create_job_from_cronjob(k8s, e2e.namespace, e2e.cronjob, _job_name(e2e, "b"), env=env)
    for name in (first, second):
        cluster.wait_for_job_finished(k8s, e2e.namespace, name, timeout=400)
    cluster.assert_overlap_refused(k8s, e2e.namespace, (first, second), e2e.flow_id)
    # Both pods mount the ReadWriteOnce claim: they must have run on one node (the chart's co-location affinity; on
    # kind's local-path class the volume's own node affinity pins them too, so this cannot tell the two apart).
    nodes = {pod.spec.node_name for name in (first, second) for pod in cluster.job_pods(k8s, e2e.namespace, name)}
    assert len(nodes) == 1, nodes


def test_a_pod_deleted_mid_run_is_replaced_and_the_run_resumes_without_repeating_completed_jobs(
    k8s: Any, e2e: E2EConfig
) -> None:
    name = cluster.create_job_from_cronjob(
        k8s, e2e.namespace, e2e.cronjob, _job_name(e2e, "resume"), env={"E2E_SLEEP_SECONDS": "40"}
    )
    pod = cluster.wait_for_event(k8s, e2e.namespace, name, "step_start", timeout=240, job_id="work")
    cluster.delete_pod(k8s, e2e.namespace, pod)
    cluster.wait_for_job_finished(k8s, e2e.namespace, name, timeout=400)
    cluster.assert_resumed_without_repeating(k8s, e2e.namespace, name, deleted_pod=pod, completed_job_id="prepare")
