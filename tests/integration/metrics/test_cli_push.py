"""``aetherflow run`` with AETHERFLOW_PUSHGATEWAY_URL against a real Pushgateway (container.md §6)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.servers.drip import ENDLESS_HEADERS, dripping_server
from tests.servers.pushgateway import Pushgateway
from tests.support.cli import CliResult, FlowRun, clean_env, cli_argv, make_flow, run_args

pytestmark = pytest.mark.servers

TWO_JOBS = """
version: 1
flow:
  id: metrics_demo
jobs:
  - id: extract
    steps:
      - id: pull
        type: external.process
        inputs: {command: ["{{env.PULL_COMMAND:true}}"]}
  - id: load
    depends_on: [extract]
    steps:
      - id: upload
        type: external.process
        inputs: {command: ["{{env.LOAD_COMMAND:true}}"]}
"""

LONG_RUN = """
version: 1
flow:
  id: metrics_demo
  locks: {scope: flow, ttl_seconds: 60}
jobs:
  - id: wait
    steps:
      - id: sleep
        type: external.process
        inputs: {command: ["sleep", "30"], kill_grace_seconds: 2}
"""

#: defaults: start push 1 x 2 s, end push 2 x 2 s + a 1.5 s pause at most (container.md §6)
PUSH_BOUND_SECONDS = 8.0


def run_with_gateway(flow: FlowRun, url: str, run_id: str = "r1", **env: str) -> tuple[CliResult, float]:
    began = time.monotonic()
    result = flow.run(run_id=run_id, env={"AETHERFLOW_PUSHGATEWAY_URL": url, **env})
    return result, time.monotonic() - began


def one_hot(gateway: Pushgateway, family: str, **labels: str) -> str:
    """The status label whose sample is 1 among the series matching ``labels``."""
    hot = [
        dict(k)["status"] for k, v in gateway.samples(family).items() if labels.items() <= dict(k).items() and v == 1
    ]
    assert len(hot) == 1, gateway.samples(family)
    return hot[0]


def test_successful_run_pushes_success_for_the_run_and_each_job(tmp_path: Path, pushgateway: Pushgateway) -> None:
    flow = make_flow(tmp_path, TWO_JOBS)

    result, _ = run_with_gateway(flow, pushgateway.url)

    assert result.code == 0, result.stderr
    assert one_hot(pushgateway, "aetherflow_run_status") == "success"
    assert one_hot(pushgateway, "aetherflow_job_status", job_id="extract") == "success"
    assert one_hot(pushgateway, "aetherflow_job_status", job_id="load") == "success"
    assert len(pushgateway.samples("aetherflow_run_last_success_timestamp_seconds")) == 1
    assert [g["labels"] for g in pushgateway.groups()] == [{"job": "aetherflow", "flow": "metrics_demo"}]
    assert result.event("metrics_push_failed") == []


def test_failed_run_pushes_failed_and_blocked_jobs_without_a_last_success(
    tmp_path: Path, pushgateway: Pushgateway
) -> None:
    flow = make_flow(tmp_path, TWO_JOBS)

    result, _ = run_with_gateway(flow, pushgateway.url, PULL_COMMAND="false")

    assert result.code == 1
    assert one_hot(pushgateway, "aetherflow_run_status") == "failed"
    assert one_hot(pushgateway, "aetherflow_job_status", job_id="extract") == "failed"
    assert one_hot(pushgateway, "aetherflow_job_status", job_id="load") == "blocked"
    assert pushgateway.samples("aetherflow_run_last_success_timestamp_seconds") == {}


def test_invalid_flow_pushes_nothing(tmp_path: Path, pushgateway: Pushgateway) -> None:
    flow = make_flow(tmp_path, TWO_JOBS.replace("version: 1", "version: 2"))

    result, _ = run_with_gateway(flow, pushgateway.url)

    assert result.code == 2
    assert pushgateway.groups() == []


def test_a_down_gateway_leaves_the_exit_code_and_costs_two_warnings(tmp_path: Path, dead_gateway_url: str) -> None:
    flow = make_flow(tmp_path, TWO_JOBS)

    result, elapsed = run_with_gateway(flow, dead_gateway_url, LOAD_COMMAND="false")

    assert result.code == 1
    warnings = result.event("metrics_push_failed")
    assert [(w["url"], w["attempts"], w["level"]) for w in warnings] == [(dead_gateway_url, 1, "WARNING")] * 2
    assert elapsed < PUSH_BOUND_SECONDS


def test_a_hanging_gateway_leaves_the_exit_code_and_stays_within_the_bound(
    tmp_path: Path, hanging_gateway_url: str
) -> None:
    flow = make_flow(tmp_path, TWO_JOBS)

    result, elapsed = run_with_gateway(flow, hanging_gateway_url)

    assert result.code == 0, result.stderr
    assert len(result.event("metrics_push_failed")) == 2
    # two timed-out pushes of 2 s; the bound adds process start-up on a loaded machine
    assert elapsed < PUSH_BOUND_SECONDS + 6


def test_overlap_pushes_its_gauge_and_an_interrupted_run_pushes_interrupted(
    tmp_path: Path, pushgateway: Pushgateway
) -> None:
    flow = make_flow(tmp_path, LONG_RUN)
    env = clean_env(AETHERFLOW_LOG_FORMAT="json", AETHERFLOW_PUSHGATEWAY_URL=pushgateway.url)
    live = subprocess.Popen(
        cli_argv(*run_args(flow.flow, flow.state, flow.work, "live")),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not pushgateway.samples("aetherflow_run_start_timestamp_seconds") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert one_hot(pushgateway, "aetherflow_run_status") == "running"

        refused, _ = run_with_gateway(flow, pushgateway.url, run_id="manual")

        assert refused.code == 75
        assert len(pushgateway.samples("aetherflow_run_overlap_timestamp_seconds")) == 1
        assert one_hot(pushgateway, "aetherflow_run_status") == "running"
    finally:
        live.send_signal(signal.SIGTERM)
        _, stderr = live.communicate(timeout=60)
    assert live.returncode == 143, stderr
    assert one_hot(pushgateway, "aetherflow_run_status") == "interrupted"
    assert one_hot(pushgateway, "aetherflow_job_status", job_id="wait") == "interrupted"


def test_a_gateway_answering_one_byte_a_second_delays_the_first_job_by_one_bounded_push_at_most(
    tmp_path: Path,
) -> None:
    flow = make_flow(tmp_path, TWO_JOBS)
    timeout, attempts = 1.0, 2

    with dripping_server(ENDLESS_HEADERS, interval=1.0) as server:
        result, elapsed = run_with_gateway(
            flow,
            server.url,
            AETHERFLOW_PUSHGATEWAY_TIMEOUT_SECONDS=str(timeout),
            AETHERFLOW_PUSHGATEWAY_ATTEMPTS=str(attempts),
        )

    assert result.code == 0, result.stderr
    [run_start] = result.event("run_start")
    first_job = result.event("job_start")[0]
    start_push_bound = timeout * 1 + 1  # the start push makes one attempt
    assert (first_job["ts_ms"] - run_start["ts_ms"]) / 1000 <= start_push_bound + 1  # + scheduling on a loaded machine
    warnings = result.event("metrics_push_failed")
    assert [(w["attempts"], w["error"]) for w in warnings] == [(1, "TimeoutError: no complete answer within 1s")] * 2
    # both pushes bounded; the rest is process start-up on a loaded machine
    assert elapsed < 2 * start_push_bound + 8
