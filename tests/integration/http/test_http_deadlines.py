"""``rest`` time bounds against a hostile server that answers one byte at a time.

``timeout`` bounds everything up to the response headers (TLS handshake included) and each read of the body;
``timeouts.body`` bounds the whole body. A socket timeout alone would let each dripped byte restart the clock.
"""

from __future__ import annotations

import time

import pytest

from aetherflow.errors import ConnectorError
from tests.servers.drip import ENDLESS_HEADERS, ENDLESS_TLS_RECORD, dripping_server
from tests.support.context import run_step

DRIP_INTERVAL = 0.1  # well inside every socket timeout below, so only a bound on the whole exchange can stop it
SLACK = 3.0  # scheduling on a loaded machine; without the bound these exchanges last for hours
BODY_HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n"


def _timed_request(ctx, **inputs):
    began = time.monotonic()
    try:
        run_step(ctx, "http_request", {"resource": "api", "path": "/", **inputs})
    except ConnectorError as exc:
        return exc, time.monotonic() - began
    raise AssertionError("the request did not fail")


def test_headers_dripped_one_byte_at_a_time_time_out_within_the_timeout(http_step_env) -> None:
    with dripping_server(ENDLESS_HEADERS, interval=DRIP_INTERVAL) as server:
        ctx, _ = http_step_env(config={"base_url": server.url}, options={"timeout": 0.8})

        error, elapsed = _timed_request(ctx)

    assert str(error) == f"Timed out after 0.8s: GET {server.url}/ (resource 'api')"
    assert error.transient is True
    assert elapsed < 0.8 + SLACK


def test_a_tls_handshake_dripped_one_byte_at_a_time_times_out_within_the_timeout(http_step_env) -> None:
    with dripping_server(ENDLESS_TLS_RECORD, interval=DRIP_INTERVAL) as server:
        https = server.url.replace("http://", "https://")
        ctx, _ = http_step_env(config={"base_url": https}, options={"timeout": 0.8})

        error, elapsed = _timed_request(ctx)

    assert str(error).startswith("Timed out after 0.8s: GET https://127.0.0.1:")
    assert elapsed < 0.8 + SLACK


def test_the_step_timeout_input_bounds_the_wait_for_the_headers_too(http_step_env) -> None:
    with dripping_server(ENDLESS_HEADERS, interval=DRIP_INTERVAL) as server:
        ctx, _ = http_step_env(config={"base_url": server.url}, options={"timeout": 30})

        error, elapsed = _timed_request(ctx, timeout_seconds=0.5)

    assert str(error).startswith("Timed out after 0.5s: GET")
    assert elapsed < 0.5 + SLACK


def test_timeouts_body_bounds_the_whole_body_and_leaves_no_partial_file(http_step_env) -> None:
    with dripping_server(b"x" * 100_000, prefix=BODY_HEADERS, interval=DRIP_INTERVAL) as server:
        ctx, _ = http_step_env(config={"base_url": server.url}, options={"timeout": 5, "timeouts": {"body": 0.7}})

        error, elapsed = _timed_request(ctx, output="dl/body.txt")

    assert str(error) == f"Timed out after 0.7s: reading the body of GET {server.url}/ (resource 'api')"
    assert error.transient is True
    assert elapsed < 0.7 + SLACK
    assert list((ctx.artifacts_dir / "dl").iterdir()) == []


def test_timeout_bounds_each_read_of_the_body_not_the_whole_body(http_step_env) -> None:
    headers = BODY_HEADERS.replace(b"100000", b"12")
    with dripping_server(b"twelve bytes", prefix=headers, interval=DRIP_INTERVAL) as server:
        ctx, _ = http_step_env(config={"base_url": server.url}, options={"timeout": 0.5})

        result = run_step(ctx, "http_request", {"resource": "api", "path": "/"})

    assert result.output["body"] == "twelve bytes"  # 1.2 s in all, each byte well inside the 0.5 s timeout


def test_a_body_timeout_that_is_not_a_number_is_refused(http_step_env) -> None:
    ctx, _ = http_step_env(options={"timeouts": {"body": "soon"}})

    with pytest.raises(ConnectorError, match=r"options\.timeouts\.body must be a number, got 'soon'"):
        ctx.connector("api")
