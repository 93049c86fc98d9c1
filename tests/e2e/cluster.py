"""Actions and assertions of the kind end-to-end test, written against a ``kubernetes`` ``ApiClient``.

The same functions run on a real cluster (tests/e2e/test_kind.py, in GitHub Actions) and on an in-process API
emulator seeded with Job and Pod objects (tests/unit/chart/test_e2e_helpers.py), so the test logic is known to work
before it meets kind. Every read goes through the API; nothing here shells out to kubectl.

What the assertions rely on (spec container.md): the run id is the Job name (§4); the runner container is named
``aetherflow`` and writes one JSON line to its termination message (§5); exit 75 is an overlap and fails the Job at
once through the podFailurePolicy (§7, §9); a retried pod of one Job resumes the same run, restoring completed jobs
(execution.md §10, events ``job_restored`` / ``job_start`` / ``step_start`` of observability.md §2); Pushgateway
series are grouped by ``job="aetherflow"`` and ``flow="<flow_id>"`` (§6).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
CONTAINER = "aetherflow"
EXIT_OVERLAP = 75


class E2EFailure(AssertionError):
    """An end-to-end expectation did not hold; the message carries what the cluster showed."""


@dataclass(frozen=True)
class E2EConfig:
    """Where the chart under test is installed (see tests/e2e/conftest.py for the defaults)."""

    namespace: str
    cronjob: str
    flow_id: str
    pushgateway_service: str
    pushgateway_port: int


@dataclass(frozen=True)
class PodOutcome:
    """How the runner container of one pod ended (None fields: not terminated yet / no message)."""

    pod: str
    phase: str | None
    exit_code: int | None
    reason: str | None
    raw_message: str | None
    message: dict[str, Any] | None = field(default=None)


def _batch(api: ApiClient) -> Any:
    from kubernetes import client

    return client.BatchV1Api(api)


def _core(api: ApiClient) -> Any:
    from kubernetes import client

    return client.CoreV1Api(api)


def _wait(what: str, probe: Callable[[], Any], timeout: float, interval: float) -> Any:
    """Call ``probe`` until it returns something truthy; E2EFailure naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise E2EFailure(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def create_job_from_cronjob(
    api: ApiClient, namespace: str, cronjob: str, job_name: str, env: Mapping[str, str] | None = None
) -> str:
    """``kubectl create job --from=cronjob/<cronjob> <job_name>``, optionally adding env to the runner container.

    Like kubectl: the Job gets the CronJob's job template (labels and spec), the annotation
    ``cronjob.kubernetes.io/instantiate: manual`` and the CronJob as controlling owner.
    """
    cron = _batch(api).read_namespaced_cron_job(cronjob, namespace)
    client: Any = api  # the client's own annotations are incomplete
    template = client.sanitize_for_serialization(cron.spec.job_template)
    meta = template.get("metadata") or {}
    spec = template["spec"]
    if env:
        containers = spec["template"]["spec"]["containers"]
        runner = next((c for c in containers if c["name"] == CONTAINER), None)
        if runner is None:
            raise E2EFailure(f"CronJob {namespace}/{cronjob} has no container named {CONTAINER!r}")
        kept = [e for e in runner.get("env") or [] if e["name"] not in env]
        runner["env"] = kept + [{"name": k, "value": v} for k, v in env.items()]
    body = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name,
            "namespace": namespace,
            "labels": meta.get("labels") or {},
            "annotations": {**(meta.get("annotations") or {}), "cronjob.kubernetes.io/instantiate": "manual"},
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "CronJob",
                    "name": cronjob,
                    "uid": cron.metadata.uid,
                    "controller": True,
                }
            ],
        },
        "spec": spec,
    }
    _batch(api).create_namespaced_job(namespace, body)
    return job_name


def finished_condition(job: Any) -> str | None:
    """``Complete`` or ``Failed`` when the Job has that terminal condition set to True, else None."""
    for cond in (job.status and job.status.conditions) or []:
        if cond.type in ("Complete", "Failed") and cond.status == "True":
            return str(cond.type)
    return None


def wait_for_job_finished(
    api: ApiClient, namespace: str, job_name: str, timeout: float = 300, interval: float = 2
) -> Any:
    """The Job once it is Complete or Failed."""

    def probe() -> Any:
        job = _batch(api).read_namespaced_job(job_name, namespace)
        return job if finished_condition(job) else None

    try:
        return _wait(f"Job {namespace}/{job_name} to finish", probe, timeout, interval)
    except E2EFailure as exc:
        raise E2EFailure(f"{exc}; pods: {describe_pods(api, namespace, job_name)}") from None


def job_pods(api: ApiClient, namespace: str, job_name: str) -> list[Any]:
    """Pods of the Job, oldest first (labels are checked here too, not only by the server's selector)."""
    listed = _core(api).list_namespaced_pod(namespace, label_selector=f"{JOB_NAME_LABEL}={job_name}").items
    mine = [p for p in listed if (p.metadata.labels or {}).get(JOB_NAME_LABEL) == job_name]
    return sorted(
        mine, key=lambda p: (p.metadata.creation_timestamp is None, p.metadata.creation_timestamp, p.metadata.name)
    )


def pod_outcome(pod: Any) -> PodOutcome:
    """The runner container's terminated state and parsed termination message."""
    status = pod.status
    terminated = None
    for cs in (status and status.container_statuses) or []:
        if cs.name == CONTAINER and cs.state is not None:
            terminated = cs.state.terminated
    raw = terminated.message if terminated is not None else None
    parsed: dict[str, Any] | None = None
    if raw:
        try:
            value = json.loads(raw)
        except ValueError:
            value = None  # FallbackToLogsOnError: the tail of the log, not the runner's JSON line
        parsed = value if isinstance(value, dict) else None
    return PodOutcome(
        pod=pod.metadata.name,
        phase=status.phase if status is not None else None,
        exit_code=terminated.exit_code if terminated is not None else None,
        reason=terminated.reason if terminated is not None else None,
        raw_message=raw,
        message=parsed,
    )


def describe_pods(api: ApiClient, namespace: str, job_name: str) -> str:
    """One line per pod of the Job (phase, exit code, message) for failure messages."""
    rows = []
    for pod in job_pods(api, namespace, job_name):
        out = pod_outcome(pod)
        rows.append(f"{out.pod} phase={out.phase} exit={out.exit_code} reason={out.reason} message={out.raw_message!r}")
    return "; ".join(rows) or "none"


def pod_log_events(api: ApiClient, namespace: str, pod: str) -> list[dict[str, Any]]:
    """The runner's JSON log events of one pod (lines that are not JSON objects are skipped)."""
    text = _core(api).read_namespaced_pod_log(pod, namespace, container=CONTAINER)
    events = []
    for line in str(text).splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and "event" in value:
            events.append(value)
    return events


def _matching(events: Iterable[dict[str, Any]], event: str, fields: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [e for e in events if e.get("event") == event and all(e.get(k) == v for k, v in fields.items())]


def assert_run_succeeded(api: ApiClient, namespace: str, job_name: str) -> dict[str, Any]:
    """The Job is Complete and its last pod exited 0 with a SUCCESS termination message for run id = Job name."""
    job = _batch(api).read_namespaced_job(job_name, namespace)
    pods = job_pods(api, namespace, job_name)
    context = f"Job {namespace}/{job_name} (pods: {describe_pods(api, namespace, job_name)})"
    if finished_condition(job) != "Complete":
        raise E2EFailure(f"{context} is not Complete: {finished_condition(job)}")
    if not pods:
        raise E2EFailure(f"{context} has no pods left to read the result from")
    last = pod_outcome(pods[-1])
    msg = last.message
    if last.exit_code != 0 or msg is None:
        raise E2EFailure(f"{context}: last pod exit {last.exit_code}, message {last.raw_message!r}")
    expected = {"status": "SUCCESS", "exit_code": 0, "run_id": job_name}
    wrong = {k: msg.get(k) for k, v in expected.items() if msg.get(k) != v}
    if wrong or msg.get("failed") != []:
        raise E2EFailure(f"{context}: termination message {msg} differs from {expected} with failed=[] in {wrong}")
    return msg


def assert_overlap_refused(api: ApiClient, namespace: str, job_names: tuple[str, str], flow_id: str) -> str:
    """Of two Jobs started together, one succeeded and the other failed at once on exit 75; returns the loser.

    The loser ran exactly one pod (FailJob, no retry), whose termination message is the OVERLAP shape naming the
    flow lock, and the Job's Failed condition comes from the podFailurePolicy.
    """
    batch = _batch(api)
    jobs = {name: batch.read_namespaced_job(name, namespace) for name in job_names}
    states = {name: finished_condition(job) for name, job in jobs.items()}
    details = "; ".join(f"{n}: {s} (pods: {describe_pods(api, namespace, n)})" for n, s in states.items())
    if sorted(str(s) for s in states.values()) != ["Complete", "Failed"]:
        raise E2EFailure(f"expected one Complete and one Failed Job, got {details}")
    winner = next(n for n, s in states.items() if s == "Complete")
    loser = next(n for n, s in states.items() if s == "Failed")
    assert_run_succeeded(api, namespace, winner)
    failed_cond = next(c for c in jobs[loser].status.conditions if c.type == "Failed" and c.status == "True")
    if failed_cond.reason != "PodFailurePolicy":
        raise E2EFailure(f"Job {loser} failed with reason {failed_cond.reason!r}, not PodFailurePolicy: {details}")
    pods = job_pods(api, namespace, loser)
    if len(pods) != 1:
        raise E2EFailure(f"Job {loser} ran {len(pods)} pods; an overlap must not be retried: {details}")
    out = pod_outcome(pods[0])
    msg = out.message or {}
    lock = f"LockBusy: Lock not acquired: flow:{flow_id}"
    if (
        out.exit_code != EXIT_OVERLAP
        or msg.get("status") != "OVERLAP"
        or msg.get("exit_code") != EXIT_OVERLAP
        or msg.get("run_id") != loser
        or not str(msg.get("error", "")).startswith(lock)
    ):
        raise E2EFailure(
            f"pod {out.pod} of {loser}: exit {out.exit_code}, message {out.raw_message!r}; "
            f"expected exit 75 with status OVERLAP and error starting {lock!r}"
        )
    return loser


def wait_for_event(
    api: ApiClient,
    namespace: str,
    job_name: str,
    event: str,
    timeout: float = 180,
    interval: float = 2,
    **fields: Any,
) -> str:
    """Name of the Job's running pod once its log shows ``event`` with ``fields`` (e.g. step_start of job work)."""

    def probe() -> str | None:
        for pod in job_pods(api, namespace, job_name):
            if pod.status is None or pod.status.phase != "Running":
                continue
            if _matching(pod_log_events(api, namespace, pod.metadata.name), event, fields):
                return str(pod.metadata.name)
        return None

    return str(
        _wait(f"event {event} {fields} in a running pod of Job {namespace}/{job_name}", probe, timeout, interval)
    )


def delete_pod(api: ApiClient, namespace: str, pod: str) -> None:
    """Delete the pod with its normal grace period (the runner gets SIGTERM, like a drain would send)."""
    _core(api).delete_namespaced_pod(pod, namespace)


def assert_resumed_without_repeating(
    api: ApiClient, namespace: str, job_name: str, deleted_pod: str, completed_job_id: str
) -> dict[str, Any]:
    """After ``deleted_pod`` was deleted mid-run, a new pod of the same Job finished the same run.

    The run id stayed the Job name, the attempt number grew, and the job that had completed before the deletion was
    restored (``job_restored``), not started again (no ``job_start``/``step_start`` for it in the new pod's log).
    """
    msg = assert_run_succeeded(api, namespace, job_name)
    pods = job_pods(api, namespace, job_name)
    last = pods[-1].metadata.name
    if last == deleted_pod:
        raise E2EFailure(f"Job {job_name} finished in the deleted pod {deleted_pod}; no replacement pod ran")
    if not isinstance(msg.get("attempt"), int) or msg["attempt"] < 2:
        raise E2EFailure(f"pod {last} of {job_name} reports attempt {msg.get('attempt')!r}: not a resumed run ({msg})")
    events = pod_log_events(api, namespace, last)
    restored = _matching(events, "job_restored", {"job_id": completed_job_id, "run_id": job_name})
    repeated = _matching(events, "job_start", {"job_id": completed_job_id}) + _matching(
        events, "step_start", {"job_id": completed_job_id}
    )
    if not restored or repeated:
        raise E2EFailure(
            f"pod {last} of {job_name}: job {completed_job_id!r} restored={len(restored)} events, "
            f"started again={len(repeated)} events; a resumed run restores completed jobs instead of repeating them"
        )
    return msg


def pushgateway_metrics(api: ApiClient, namespace: str, service: str, port: int) -> str:
    """The Pushgateway's /metrics text, read through the API server's service proxy (no port-forward needed)."""
    text = _core(api).connect_get_namespaced_service_proxy_with_path(f"{service}:{port}", namespace, "metrics")
    return str(text)


def metric_value(metrics_text: str, name: str, labels: Mapping[str, str]) -> float | None:
    """Value of the sample ``name`` whose labels include ``labels`` (None when there is no such sample)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


def assert_flow_metrics_pushed(metrics_text: str, flow_id: str, job_ids: Iterable[str]) -> None:
    """The last pushed run of ``flow_id`` is a success: run status, last-success time and each job's status."""
    group = {"job": "aetherflow", "flow": flow_id}
    expected = {
        ("aetherflow_run_status", "success"): 1.0,
        ("aetherflow_run_status", "failed"): 0.0,
        ("aetherflow_run_status", "running"): 0.0,
    }
    problems = []
    for (name, status), want in expected.items():
        got = metric_value(metrics_text, name, {**group, "status": status})
        if got != want:
            problems.append(f"{name}{{status={status}}} = {got}, expected {want}")
    last_success = metric_value(metrics_text, "aetherflow_run_last_success_timestamp_seconds", group)
    if not last_success or last_success <= 0:
        problems.append(f"aetherflow_run_last_success_timestamp_seconds = {last_success}")
    for job_id in job_ids:
        got = metric_value(metrics_text, "aetherflow_job_status", {**group, "job_id": job_id, "status": "success"})
        if got != 1.0:
            problems.append(f"aetherflow_job_status{{job_id={job_id},status=success}} = {got}, expected 1.0")
    if problems:
        raise E2EFailure(f"Pushgateway metrics of flow {flow_id!r}: " + "; ".join(problems))
