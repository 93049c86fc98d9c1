"""``aetherflow container`` in a CronJob's Job pushes its schedule slot and lateness, grouped per schedule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.servers.pushgateway import Pushgateway
from tests.support.cli import CliResult, aetherflow, write_flow

pytestmark = pytest.mark.servers

FLOW = """
version: 1
flow:
  id: slots
jobs:
  - id: work
    steps:
      - id: go
        type: external.process
        inputs: {command: ["{{env.WORK_COMMAND:true}}"]}
"""

SCHEDULE = "etl-slots-nightly"
SLOT_MINUTES = 29_538_840  # 2026-03-01T02:00:00Z


def container(tmp_path: Path, gateway: Pushgateway, job_name: str, **env: str) -> CliResult:
    tmp_path.mkdir(parents=True, exist_ok=True)
    flow = write_flow(tmp_path, FLOW)
    (tmp_path / "termination-log").touch()  # Kubernetes creates it; the runner writes only an existing file
    return aetherflow(
        "container",
        env={
            "AETHERFLOW_FLOW_FILE": str(flow),
            "AETHERFLOW_STATE_PATH": str(tmp_path / "state.db"),
            "AETHERFLOW_WORK_ROOT": str(tmp_path / "work"),
            "AETHERFLOW_TERMINATION_LOG": str(tmp_path / "termination-log"),
            "AETHERFLOW_JOB_NAME": job_name,
            "AETHERFLOW_NAMESPACE": "prod",
            "AETHERFLOW_SCHEDULE_NAME": SCHEDULE,
            "AETHERFLOW_PUSHGATEWAY_URL": gateway.url,
            **env,
        },
    )


def only(gateway: Pushgateway, family: str) -> tuple[dict[str, str], float]:
    samples = gateway.samples(family)
    assert len(samples) == 1, samples
    labels, value = next(iter(samples.items()))
    return {k: v for k, v in labels if k != "instance"}, value  # the gateway adds an empty instance label


def test_a_cronjob_created_job_pushes_its_slot_and_lateness_in_the_schedules_group(
    tmp_path: Path, pushgateway: Pushgateway
) -> None:
    result = container(tmp_path, pushgateway, f"{SCHEDULE}-{SLOT_MINUTES}")
    assert result.code == 0, result.stderr

    labels, slot = only(pushgateway, "aetherflow_run_scheduled_timestamp_seconds")
    assert slot == SLOT_MINUTES * 60
    assert labels == {"job": "aetherflow", "flow": "slots", "namespace": "prod", "schedule": SCHEDULE}
    _, started = only(pushgateway, "aetherflow_run_start_timestamp_seconds")
    _, lateness = only(pushgateway, "aetherflow_run_start_lateness_seconds")
    assert lateness == pytest.approx(started - slot, abs=1.0)


def test_lateness_is_the_first_attempts_and_stays_the_same_when_a_retried_pod_resumes(
    tmp_path: Path, pushgateway: Pushgateway
) -> None:
    job = f"{SCHEDULE}-{SLOT_MINUTES}"
    failed = container(tmp_path, pushgateway, job, WORK_COMMAND="false")
    assert failed.code == 1, failed.stderr
    _, first = only(pushgateway, "aetherflow_run_start_lateness_seconds")

    resumed = container(tmp_path, pushgateway, job)

    assert resumed.code == 0, resumed.stderr
    _, attempt = only(pushgateway, "aetherflow_run_attempt")
    assert attempt == 2
    _, again = only(pushgateway, "aetherflow_run_start_lateness_seconds")
    assert again == first


def test_a_manual_job_has_no_slot_and_never_overwrites_the_schedules_series(
    tmp_path: Path, pushgateway: Pushgateway
) -> None:
    scheduled = container(tmp_path / "a", pushgateway, f"{SCHEDULE}-{SLOT_MINUTES}")
    manual = container(tmp_path / "b", pushgateway, f"{SCHEDULE}-manual-1772330400")
    assert (scheduled.code, manual.code) == (0, 0), manual.stderr

    groups = {g["labels"].get("schedule") for g in pushgateway.groups()}
    assert groups == {SCHEDULE, f"{SCHEDULE}-manual"}
    slots = pushgateway.samples("aetherflow_run_scheduled_timestamp_seconds")
    assert [dict(k)["schedule"] for k in slots] == [SCHEDULE]


def test_an_invalid_scheduled_at_is_invalid_input_and_nothing_runs(tmp_path: Path, pushgateway: Pushgateway) -> None:
    result = container(tmp_path, pushgateway, "manual-1", AETHERFLOW_SCHEDULED_AT="02:00 tomorrow")

    assert result.code == 2
    assert "AETHERFLOW_SCHEDULED_AT" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "state.db").exists()
    message = json.loads((tmp_path / "termination-log").read_text())
    assert message["exit_code"] == 2
