"""``aetherflow run`` end to end with ``http_request``: transient failures retried, permanent ones failing at once."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from tests.servers.drip import ENDLESS_HEADERS, dripping_server
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

    assert result.code == 3  # permanent: retrying cannot help
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


def test_a_bearer_token_never_follows_a_redirect_to_another_origin(tmp_path: Path, http_server: HttpTestServer) -> None:
    flow = make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: http_origin}}
        resources:
          api:
            kind: rest
            driver: http
            config:
              base_url: "{http_server.url}"
              bearer_token: "{{{{env.API_TOKEN}}}}"
              headers: {{X-Tenant: acme}}
        jobs:
          - id: call
            steps:
              - id: fetch
                type: http_request
                inputs: {{resource: api, path: /redirect, params: {{to: "{http_server.other_url}/echo"}}}}
        """,
    )

    result = flow.run(env={"API_TOKEN": "cli-token-7f3a9"})

    assert result.code == 0, result.stderr
    [(outputs,)] = flow.query("SELECT outputs_json FROM step_runs")
    received = json.loads(outputs)["json"]["headers"]
    assert "authorization" not in received and "x-tenant" not in received
    [away] = http_server.requests_to(http_server.other_url, "/echo")[-1:]
    assert "cli-token-7f3a9" not in json.dumps(away["headers"])
    assert result.event("http_credentials_withheld")[0]["redirect_origin"] == http_server.other_url


def test_an_absolute_path_on_another_origin_fails_the_step_at_once(tmp_path: Path, http_server: HttpTestServer) -> None:
    flow = _flow(
        tmp_path,
        http_server,
        f"""              - id: fetch
                type: http_request
                inputs: {{resource: api, path: "{http_server.other_url}/echo"}}
                retry: {{max_attempts: 3, backoff_seconds: 0.1}}""",
    )

    result = flow.run()

    assert result.code in (1, 3)  # a permanent failure (its own exit code once permanent failures get one)
    [(status, attempts, error)] = flow.query("SELECT status, attempts, error FROM step_runs")
    assert (status, attempts) == ("FAILED", 1)
    assert error.startswith(
        f"ConnectorError: REST resource 'api': the URL in path has the origin {http_server.other_url}, "
        f"not {http_server.url} of config.base_url"
    )


def test_allow_other_origins_lets_an_absolute_path_reach_another_origin(
    tmp_path: Path, http_server: HttpTestServer
) -> None:
    flow = _flow(
        tmp_path,
        http_server,
        f"""              - id: fetch
                type: http_request
                inputs: {{resource: api, path: "{http_server.other_url}/echo"}}""",
        options="{timeout: 5, allow_other_origins: true}",
    )

    result = flow.run()

    assert result.code == 0, result.stderr
    assert json.loads(flow.query("SELECT outputs_json FROM step_runs")[0][0])["status_code"] == 200


def test_a_server_dripping_its_headers_fails_the_step_within_the_timeout(tmp_path: Path) -> None:
    with dripping_server(ENDLESS_HEADERS, interval=0.2) as server:
        flow = make_flow(
            tmp_path,
            f"""
            version: 1
            flow: {{id: http_drip}}
            resources:
              api: {{kind: rest, driver: http, config: {{base_url: "{server.url}"}}, options: {{timeout: 1}}}}
            jobs:
              - id: call
                steps:
                  - id: fetch
                    type: http_request
                    inputs: {{resource: api, path: /}}
            """,
        )

        began = time.monotonic()
        result = flow.run(timeout=30)  # without a bound on the whole exchange: 100 000 bytes, one per 0.2 s
        elapsed = time.monotonic() - began

    assert result.code == 1
    [(status, error)] = flow.query("SELECT status, error FROM step_runs")
    assert status == "FAILED"
    assert error == f"ConnectorError: REST request failed after 1 attempt(s): GET {server.url}/"
    assert elapsed < 1 + 10  # the 1 s timeout plus process start-up on a loaded machine
