"""``http_request.body_file``: a sandbox file streamed as the request body, through ``aetherflow run``."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.servers.httpserver import HttpTestServer
from tests.support.cli import FlowRun, clean_env, cli_argv, make_flow, run_args

BODY = 'id;name\n1;Grüße\n2;"quoted"\\back\n'.encode() + bytes(range(256))


def _flow(tmp_path: Path, base_url: str, inputs: str, method: str = "POST") -> FlowRun:
    return make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: body_file}}
        resources:
          api:
            kind: rest
            driver: http
            config: {{base_url: "{base_url}", bearer_token: "{{{{env.API_TOKEN}}}}"}}
            options: {{timeout: 30}}
        jobs:
          - id: call
            steps:
              - id: send
                type: http_request
                retry: {{max_attempts: 3, backoff_seconds: 0}}
                inputs: {{resource: api, method: {method}, {inputs}}}
        """,
    )


def _body_file(tmp_path: Path, content: bytes = BODY) -> Path:
    path = tmp_path / "work" / "out box" / "Grüße ü.bin"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    return path


def _received(server: HttpTestServer, url: str, tag: str) -> list[dict[str, Any]]:
    return [r for r in server.requests_to(url, "/echo") if f"tag={tag}" in r["query"]]


def test_a_body_file_is_sent_whole_with_its_length_and_the_octet_stream_type(
    tmp_path: Path, http_server: HttpTestServer
) -> None:
    tag = uuid.uuid4().hex
    path = _body_file(tmp_path)
    flow = _flow(tmp_path, http_server.url, f'path: /echo, params: {{tag: {tag}}}, body_file: "{path}"')

    result = flow.run(env={"API_TOKEN": "t0k3n"})

    assert result.code == 0, result.stderr
    [request] = _received(http_server, http_server.url, tag)
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert request["body"] == BODY
    assert headers["content-length"] == str(len(BODY))
    assert headers["content-type"] == "application/octet-stream"
    assert "transfer-encoding" not in headers


def test_content_type_sets_the_type_of_a_body_file_over_a_header(tmp_path: Path, http_server: HttpTestServer) -> None:
    tag = uuid.uuid4().hex
    path = _body_file(tmp_path)
    flow = _flow(
        tmp_path,
        http_server.url,
        f'path: /echo, params: {{tag: {tag}}}, body_file: "{path}", content_type: "text/csv; charset=utf-8", '
        "headers: {content-type: text/plain}",
    )

    result = flow.run(env={"API_TOKEN": "t0k3n"})

    assert result.code == 0, result.stderr
    [request] = _received(http_server, http_server.url, tag)
    assert {k.lower(): v for k, v in request["headers"].items()}["content-type"] == "text/csv; charset=utf-8"


def test_a_307_to_another_origin_gets_the_whole_body_again_but_not_the_token(
    tmp_path: Path, http_server: HttpTestServer
) -> None:
    tag = uuid.uuid4().hex
    path = _body_file(tmp_path)
    flow = _flow(
        tmp_path,
        http_server.url,
        f'path: /redirect, params: {{to: "{http_server.other_url}/echo?tag={tag}", status: 307}}, body_file: "{path}"',
    )

    result = flow.run(env={"API_TOKEN": "t0k3n-9c1e"})

    assert result.code == 0, result.stderr
    [away] = _received(http_server, http_server.other_url, tag)
    assert away["body"] == BODY
    assert "t0k3n-9c1e" not in json.dumps(away["headers"])
    assert result.event("http_credentials_withheld")


@pytest.mark.parametrize("other", ["json: {a: 1}", "data: {a: 1}", "body: text"])
def test_a_body_file_with_another_body_fails_at_once(tmp_path: Path, http_server: HttpTestServer, other: str) -> None:
    path = _body_file(tmp_path)
    flow = _flow(tmp_path, http_server.url, f'path: /echo, body_file: "{path}", {other}')

    result = flow.run(env={"API_TOKEN": "t0k3n"})

    assert result.code == 3, result.stderr
    [(status, attempts, error)] = flow.query("SELECT status, attempts, error FROM step_runs")
    assert (status, attempts) == ("FAILED", 1)
    assert error == "ValueError: http_request accepts only one of json, data, body, body_file"


def test_content_type_without_a_body_file_fails_at_once(tmp_path: Path, http_server: HttpTestServer) -> None:
    flow = _flow(tmp_path, http_server.url, "path: /echo, body: text, content_type: text/csv")

    result = flow.run(env={"API_TOKEN": "t0k3n"})

    assert result.code == 3, result.stderr
    [(error,)] = flow.query("SELECT error FROM step_runs")
    assert error.startswith("ValueError: http_request content_type applies to body_file only")


class _Sink(BaseHTTPRequestHandler):
    """Reads a request body in small pieces and answers with its size: holds no body in memory."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_PUT(self) -> None:
        left = int(self.headers["Content-Length"])
        size = 0
        while left:
            chunk = self.rfile.read(min(left, 1 << 20))
            if not chunk:
                break
            size += len(chunk)
            left -= len(chunk)
        body = json.dumps({"received": size}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def sink_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _peak_rss_mib(flow: FlowRun) -> tuple[int, float]:
    """Run the flow in a child and return its exit code and peak resident memory (MiB)."""
    env = clean_env(AETHERFLOW_LOG_FORMAT="json", API_TOKEN="t0k3n")
    proc = subprocess.Popen(
        cli_argv(*run_args(flow.flow, flow.state, flow.work, "r1")),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024


def test_a_200_mb_body_file_is_streamed_without_holding_it_in_memory(tmp_path: Path, sink_url: str) -> None:
    size = 200 * 1024 * 1024
    flows = []
    for name, length in (("small", 1024), ("big", size)):
        source = tmp_path / name / "work" / "in" / f"{name}.bin"
        source.parent.mkdir(parents=True)
        with source.open("wb") as fh:
            fh.truncate(length)  # sparse: no disk used, still read in full
        flows.append(_flow(tmp_path / name, sink_url, f'path: /, body_file: "{source}"', "PUT"))
    small, big = flows

    small_code, small_rss = _peak_rss_mib(small)
    big_code, big_rss = _peak_rss_mib(big)

    assert (small_code, big_code) == (0, 0)
    [(outputs,)] = big.query("SELECT outputs_json FROM step_runs")
    assert json.loads(outputs)["json"] == {"received": size}
    assert big_rss - small_rss < 50, (small_rss, big_rss)
