"""A rehearsal of the kind e2e scenarios without a cluster: real runner processes play the pods.

Mock: no Kubernetes API or kubelet can run here. Each "pod" is the real ``aetherflow container`` started with exactly
the env the chart renders for the e2e CronJob (helm/aetherflow/ci/e2e-values.yaml), downward-API values filled in as
the kubelet would, and the volume paths remapped into a temp dir (flows from the rendered ConfigMap, state and work
as on the claim, an empty termination-log file). Metrics go to a real Pushgateway. A few lines stand in for the Job
controller: they apply the chart's rendered podFailurePolicy and backoffLimit to each pod's exit code. What a cluster
would then hold (Job conditions, terminated pods with their termination messages and logs) is loaded into the API
emulator, and the very helpers the kind test uses (tests/e2e/cluster.py) judge it. So the runner's real messages and
events, the chart's env and policy, and the e2e assertions are checked together before they meet kind.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import cluster
from tests.unit.chart.emulator import NS, Emulator
from tests.unit.chart.rendering import CHART, cronjobs, env_values, of_kind, rendered, runner

E2E_VALUES = CHART / "ci" / "e2e-values.yaml"
FLOWS_DIR = "/etc/aetherflow/flows"
FLOW = "e2e"


def pod_failure_action(policy: dict[str, Any], exit_code: int, conditions: tuple[str, ...] = ()) -> str:
    """What the Job controller does with a failed pod, by the first matching rule (Count when none matches)."""
    for rule in policy["rules"]:
        if "onPodConditions" in rule:
            if any(p["type"] in conditions for p in rule["onPodConditions"]):
                return str(rule["action"])
        elif "onExitCodes" in rule:
            spec = rule["onExitCodes"]
            inside = exit_code in spec["values"]
            if inside == (spec["operator"] == "In"):
                return str(rule["action"])
    return "Count"


@dataclass
class Pod:
    """One runner process standing in for a pod."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    termination_log: Path

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def finish(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout=timeout)

    def message(self) -> str:
        return self.termination_log.read_text(encoding="utf-8")

    def wait_for_event(self, event: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while f'"event": "{event}"' not in self.log_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{self.name} never logged {event}: exit {self.proc.poll()}, {self.log_text()}")
            time.sleep(0.05)


@dataclass
class JobRecord:
    """The controller's view of one Job: its pods' exit codes and the terminal condition it set."""

    name: str
    exits: list[int] = field(default_factory=list)
    failed: int = 0
    condition: str | None = None
    reason: str | None = None


@dataclass
class Cluster:
    """Runner processes as pods, the chart's policy as the Job controller, the emulator as the API."""

    root: Path
    cronjob: dict[str, Any]
    emulator: Emulator
    gateway_url: str = ""
    pods: list[Pod] = field(default_factory=list)

    def env(self, job: str, pod: str, extra: dict[str, str]) -> dict[str, str]:
        env = env_values(runner(self.cronjob))
        env["AETHERFLOW_FLOW_FILE"] = env["AETHERFLOW_FLOW_FILE"].replace(FLOWS_DIR, str(self.root / "flows"))
        # The Service's DNS name exists only in the cluster: a real local gateway, or no push where none is needed.
        env["AETHERFLOW_PUSHGATEWAY_URL"] = self.gateway_url
        env |= {
            # downward API
            "AETHERFLOW_JOB_NAME": job,
            "AETHERFLOW_JOB_UID": f"uid-{job}",
            "AETHERFLOW_POD_NAME": pod,
            "AETHERFLOW_NAMESPACE": NS,
            # what the claim mounted at /var/lib/aetherflow and the kubelet's termination-log file provide
            "AETHERFLOW_STATE_PATH": str(self.root / "data" / "state" / f"{FLOW}.db"),
            "AETHERFLOW_WORK_ROOT": str(self.root / "data" / "work"),
            "AETHERFLOW_TERMINATION_LOG": str(self.root / f"{pod}.termination-log"),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.root),
        }
        return env | extra

    def start(self, job: str, pod: str, extra: dict[str, str]) -> Pod:
        env = self.env(job, pod, extra)
        Path(env["AETHERFLOW_TERMINATION_LOG"]).touch()
        log = self.root / f"{pod}.log"
        with log.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "aetherflow", "container"],
                env=env,
                cwd=self.root / "data",
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        started = Pod(pod, proc, log, Path(env["AETHERFLOW_TERMINATION_LOG"]))
        self.pods.append(started)
        return started

    def judge(self, record: JobRecord, exit_code: int) -> bool:
        """Apply the chart's Job policy to a finished pod; True when the controller would start another pod."""
        spec = self.cronjob["spec"]["jobTemplate"]["spec"]
        record.exits.append(exit_code)
        if exit_code == 0:
            record.condition = "Complete"
            return False
        action = pod_failure_action(spec["podFailurePolicy"], exit_code)
        if action == "FailJob":
            record.failed += 1
            record.condition, record.reason = "Failed", "PodFailurePolicy"
            return False
        if action == "Count":
            record.failed += 1
            if record.failed > spec["backoffLimit"]:
                record.condition, record.reason = "Failed", "BackoffLimitExceeded"
                return False
        return True

    def publish(self, record: JobRecord, pod: Pod, created: str) -> None:
        """Load the Job and the finished pod into the API emulator, as the cluster would show them."""
        self.emulator.job(record.name, record.condition, record.reason, failed=record.failed)
        self.emulator.pod(
            pod.name,
            record.name,
            created=created,
            exit_code=record.exits[-1],
            message=pod.message(),
            log_text=pod.log_text(),
        )

    def stop_all(self) -> None:
        for pod in self.pods:
            if pod.proc.poll() is None:
                pod.proc.kill()
                pod.proc.wait(timeout=10)


@pytest.fixture
def kind(tmp_path: Path, emulator: Emulator) -> Iterator[Cluster]:
    objects = rendered(E2E_VALUES)
    (cronjob,) = cronjobs(objects)
    (flows,) = [c for c in of_kind(objects, "ConfigMap") if c["metadata"]["name"].endswith("-flows")]
    (tmp_path / "flows").mkdir()
    for name, text in flows["data"].items():
        (tmp_path / "flows" / name).write_text(text, encoding="utf-8")
    (tmp_path / "data").mkdir()
    sim = Cluster(root=tmp_path, cronjob=cronjob, emulator=emulator)
    try:
        yield sim
    finally:
        sim.stop_all()


def test_policy_stand_in_follows_the_rule_order() -> None:
    (cronjob,) = cronjobs(rendered(E2E_VALUES))
    policy = cronjob["spec"]["jobTemplate"]["spec"]["podFailurePolicy"]
    assert pod_failure_action(policy, 75) == "FailJob"
    assert pod_failure_action(policy, 2) == "FailJob"
    assert pod_failure_action(policy, 143) == "Count"
    assert pod_failure_action(policy, 143, ("DisruptionTarget",)) == "Ignore"


@pytest.mark.servers
def test_rehearsal_manual_run_succeeds_and_its_metrics_reach_the_pushgateway(kind: Cluster, pushgateway: Any) -> None:
    kind.gateway_url = pushgateway.url
    job = JobRecord("aetherflow-e2e-ok-1")
    pod = kind.start(job.name, f"{job.name}-p1", {"E2E_SLEEP_SECONDS": "0"})
    assert not kind.judge(job, pod.finish())
    kind.publish(job, pod, created="2025-03-01T02:00:00Z")
    kind.emulator.text(f"/api/v1/namespaces/{NS}/services/pushgateway:9091/proxy/metrics", pushgateway.exposition)

    message = cluster.assert_run_succeeded(kind.emulator.api, NS, job.name)
    assert message["flow_id"] == FLOW
    metrics = cluster.pushgateway_metrics(kind.emulator.api, NS, "pushgateway", 9091)
    cluster.assert_flow_metrics_pushed(metrics, FLOW, job_ids=["prepare", "work"])


def test_rehearsal_second_concurrent_run_exits_75_and_fails_without_retry(kind: Cluster) -> None:
    jobs = [JobRecord("aetherflow-e2e-a-1"), JobRecord("aetherflow-e2e-b-1")]
    first = kind.start(jobs[0].name, f"{jobs[0].name}-p1", {"E2E_SLEEP_SECONDS": "4"})
    # On kind both pods start together and either may win; here the second starts once the first holds the lock,
    # so the outcome does not depend on process start-up times.
    first.wait_for_event("lock_acquired")
    second = kind.start(jobs[1].name, f"{jobs[1].name}-p1", {"E2E_SLEEP_SECONDS": "4"})
    for job, pod in zip(jobs, (first, second), strict=True):
        assert not kind.judge(job, pod.finish()), f"{job.name} would be retried: exits {job.exits}"
        kind.publish(job, pod, created="2025-03-01T02:00:00Z")

    loser = cluster.assert_overlap_refused(kind.emulator.api, NS, (jobs[0].name, jobs[1].name), FLOW)
    assert loser == jobs[1].name and jobs[1].exits == [75]


def test_rehearsal_deleted_pod_is_replaced_and_resumes_without_repeating(kind: Cluster) -> None:
    job = JobRecord("aetherflow-e2e-resume-1")
    first = kind.start(job.name, f"{job.name}-p1", {"E2E_SLEEP_SECONDS": "60"})
    kind.emulator.job(job.name, None)
    kind.emulator.pod(first.name, job.name, created="2025-03-01T02:00:00Z", log_text=first.log_text)

    pod = cluster.wait_for_event(kind.emulator.api, NS, job.name, "step_start", timeout=30, interval=0.2, job_id="work")
    assert pod == first.name
    cluster.delete_pod(kind.emulator.api, NS, pod)
    first.proc.terminate()  # the kubelet's SIGTERM for a deleted pod
    assert kind.judge(job, first.finish()), f"no replacement pod after exit {job.exits}"
    # The replacement pod of the same Job (shorter sleep here; the Job's pods differ only in that).
    second = kind.start(job.name, f"{job.name}-p2", {"E2E_SLEEP_SECONDS": "0"})
    assert not kind.judge(job, second.finish())
    kind.emulator.batch().delete_namespaced_job(job.name, NS)
    kind.publish(job, second, created="2025-03-01T02:01:00Z")

    message = cluster.assert_resumed_without_repeating(
        kind.emulator.api, NS, job.name, deleted_pod=first.name, completed_job_id="prepare"
    )
    assert job.exits == [143, 0]
    assert message["attempt"] == 2
