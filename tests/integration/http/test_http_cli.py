"""``aetherflow run`` end to end with ``http_request``: transient failures retried, permanent ones failing at once."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.servers.httpserver import HttpTestServer
from tests.support.cli import FlowRun, make_flow


def _flow(tmp_path: Path, server: HttpTestServer, step: str, *, options: str = "{timeout: 5}") -> FlowRun:
    return make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: http_e2e}}
        resources:
          api: {{kind: rest, driver: http, config: {{base_url: "{server.url}"}}, options: {options}}}
        jobs:
          - id: call
            steps:
{step}
        """,
    )


def test_step_retry_recovers_from_a_transient_503(tmp_path: Path, http_server: HttpTestServer) -> None:
    key = uuid.uuid4().hex
    flow = _flow(
        tmp_path,
        http_server,
        f"""              - id: fetch
                type: http_request
                inputs: {{resource: api, path: "/flaky/{key}", params: {{fail: 2}}}}
                retry: {{max_attempts: 3, backoff_seconds: 0.1}}""",
    )

    result = flow.run()

    assert result.code == 0, result.stderr
    assert http_server.hits(key) == 3
    [(status, attempts, outputs)] = flow.query("SELECT status, attempts, outputs_json FROM step_runs")
    assert (status, attempts) == ("SUCCESS", 3)
    assert json.loads(outputs)["json"] == {"attempt": 3, "ok": True}


def test_resource_retries_option_retries_transient_failures_without_a_step_retry(
    tmp_path: Path, http_server: HttpTestServer
) -> None:
    key = uuid.uuid4().hex
    flow = _flow(
        tmp_path,
        http_server,
        f"""              - id: fetch
                type: http_request
                inputs: {{resource: api, path: "/flaky/{key}", params: {{fail: 1}}}}""",
        options="{timeout: 5, retries: 1}",
    )

    result = flow.run()

    assert result.code == 0, result.stderr
    assert http_server.hits(key) == 2
    assert flow.query("SELECT attempts FROM step_runs") == [(2,)]


def test_permanent_404_fails_at_once_despite_a_step_retry(tmp_path: Path, http_server: HttpTestServer) -> None:
    flow = _flow(
        tmp_path,
        http_server,
        """              - id: fetch
                type: http_request
                inputs: {resource: api, path: "/status/404", params: {token: hide-me}}
                retry: {max_attempts: 3, backoff_seconds: 0.1}""",
    )

    result = flow.run()

    assert result.code == 1
    [(status, attempts, error)] = flow.query("SELECT status, attempts, error FROM step_runs")
    assert (status, attempts) == ("FAILED", 1)
    assert error == f"ConnectorError: HTTP 404 for GET {http_server.url}/status/404"


def test_exhausted_resource_retries_fail_with_the_rest_attempts_message(
    tmp_path: Path, http_server: HttpTestServer
) -> None:
    key = uuid.uuid4().hex
    flow = _flow(
        tmp_path,
        http_server,
        f"""              - id: fetch
                type: http_request
                inputs: {{resource: api, path: "/flaky/{key}", params: {{fail: 5}}}}""",
        options="{timeout: 5, retries: 1}",
    )

    result = flow.run()

    assert result.code == 1
    assert http_server.hits(key) == 2
    [(error,)] = flow.query("SELECT error FROM step_runs")
    assert error == f"ConnectorError: REST request failed after 2 attempt(s): GET {http_server.url}/flaky/{key}"
