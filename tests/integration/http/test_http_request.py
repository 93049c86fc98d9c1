"""``http_request`` against a real local HTTP(S) server: bodies, headers, files, statuses, timeouts, TLS."""

from __future__ import annotations

import socket
import uuid

import pytest

from aetherflow.errors import ConnectorError
from tests.servers.httpserver import HttpTestServer, pattern_bytes
from tests.support.context import run_step


def _request(ctx, **inputs):
    return run_step(ctx, "http_request", {"resource": "api", **inputs})


def test_get_returns_status_lowercased_headers_body_and_parsed_json(http_step_env) -> None:
    ctx, _ = http_step_env()

    result = _request(ctx, path="/echo", params={"day": "2024-01-31", "tag": ["a", "b"], "full": True})

    out = result.output
    assert out["status_code"] == 200
    assert out["headers"]["content-type"] == "application/json"
    assert out["headers"]["x-test-server"] == "aetherflow"
    assert out["json"]["method"] == "GET"
    assert out["json"]["query"] == {"day": ["2024-01-31"], "tag": ["a", "b"], "full": ["true"]}
    assert out["body"].startswith("{")
    assert out["bytes"] == len(out["body"].encode())
    assert isinstance(out["elapsed_ms"], int)


def test_step_headers_merge_over_resource_headers_and_bearer_token_is_added(http_step_env) -> None:
    ctx, _ = http_step_env(config={"headers": {"X-Team": "data", "Accept": "text/plain"}, "bearer_token": "tok-123456"})

    result = _request(ctx, path="echo", headers={"accept": "application/json", "X-Run": "r1"})

    headers = result.output["json"]["headers"]
    assert headers["x-team"] == "data"
    assert headers["accept"] == "application/json"
    assert headers["x-run"] == "r1"
    assert headers["authorization"] == "Bearer tok-123456"


def test_explicit_authorization_header_wins_over_bearer_token(http_step_env) -> None:
    ctx, _ = http_step_env(config={"bearer_token": "tok-123456"})

    result = _request(ctx, path="/echo", headers={"Authorization": "Basic abc"})

    assert result.output["json"]["headers"]["authorization"] == "Basic abc"


def test_json_body_is_sent_as_json(http_step_env) -> None:
    ctx, _ = http_step_env()

    result = _request(ctx, method="post", path="/echo", json={"rows": 3, "ok": None})

    echo = result.output["json"]
    assert echo["method"] == "POST"
    assert echo["headers"]["content-type"] == "application/json"
    assert echo["body"] == '{"rows": 3, "ok": null}'


def test_form_data_and_raw_body_are_encoded(http_step_env) -> None:
    ctx, _ = http_step_env()

    form = _request(ctx, method="PUT", path="/echo", data={"a": "1 2", "b": ["x", "y"]})
    raw = _request(ctx, method="PATCH", path="/echo", body="plain text ✓")

    assert form.output["json"]["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert form.output["json"]["body"] == "a=1+2&b=x&b=y"
    assert raw.output["json"]["headers"]["content-type"] == "text/plain; charset=utf-8"
    assert raw.output["json"]["body"] == "plain text ✓"


def test_more_than_one_body_kind_is_refused(http_step_env) -> None:
    ctx, _ = http_step_env()

    with pytest.raises(ValueError, match=r"^http_request accepts only one of json, data, body, body_file$"):
        _request(ctx, method="POST", path="/echo", json={"a": 1}, body="x")


def test_absolute_url_of_another_origin_is_used_as_is_when_allowed(http_server: HttpTestServer, http_step_env) -> None:
    ctx, _ = http_step_env(config={"base_url": "http://127.0.0.1:9/unused"}, options={"allow_other_origins": True})

    result = _request(ctx, path=f"{http_server.url}/echo")

    assert result.output["json"]["path"] == "/echo"


def test_text_body_is_decoded_with_the_declared_charset(http_step_env) -> None:
    ctx, _ = http_step_env()

    result = _request(ctx, path="/text", params={"charset": "latin-1"})

    assert result.output["body"] == "Grüße, señor"
    assert "json" not in result.output


def test_redirects_are_followed(http_step_env) -> None:
    ctx, _ = http_step_env()

    result = _request(ctx, path="/redirect", params={"to": "/echo"})

    assert result.output["status_code"] == 200
    assert result.output["json"]["path"] == "/echo"


def test_large_body_is_streamed_to_the_output_file(http_step_env) -> None:
    ctx, _ = http_step_env()
    size = 5 * 1024 * 1024 + 3

    result = _request(ctx, path="/bytes", params={"n": size}, output="downloads/blob.bin")

    target = ctx.artifacts_dir / "downloads" / "blob.bin"
    assert result.output["output"] == str(target)
    assert result.output["bytes"] == size
    assert "body" not in result.output
    assert target.read_bytes() == pattern_bytes(size)
    assert not (ctx.artifacts_dir / "downloads" / "blob.bin.tmp").exists()


def test_body_larger_than_max_body_bytes_is_left_out_of_the_output(http_step_env) -> None:
    ctx, events = http_step_env()

    result = _request(ctx, path="/bytes", params={"n": 2048}, max_body_bytes=1024)

    assert result.output["bytes"] == 2048
    assert "body" not in result.output
    assert events.named("http_body_not_kept")[0]["bytes"] == 2048


def test_output_outside_the_sandbox_is_refused_before_any_request(http_server: HttpTestServer, http_step_env) -> None:
    ctx, _ = http_step_env()
    before = len(http_server.state.requests)

    with pytest.raises(ValueError, match=r"^Path not under allowed roots: /tmp/x\.bin"):
        _request(ctx, path="/bytes", params={"n": 10}, output="/tmp/x.bin")

    assert len(http_server.state.requests) == before


def test_unexpected_4xx_fails_permanently_with_url_without_query(http_server: HttpTestServer, http_step_env) -> None:
    ctx, _ = http_step_env()

    with pytest.raises(ConnectorError) as caught:
        _request(ctx, method="DELETE", path="/status/404", params={"api_key": "secret-value"})

    assert str(caught.value) == f"HTTP 404 for DELETE {http_server.url}/status/404"
    assert caught.value.transient is False


@pytest.mark.parametrize("status", [500, 503, 429])
def test_5xx_and_429_fail_transiently(status: int, http_server: HttpTestServer, http_step_env) -> None:
    ctx, _ = http_step_env()

    with pytest.raises(ConnectorError) as caught:
        _request(ctx, path=f"/status/{status}")

    assert str(caught.value) == f"HTTP {status} for GET {http_server.url}/status/{status}"
    assert caught.value.transient is True


def test_status_listed_in_retry_on_status_is_transient(http_step_env) -> None:
    ctx, _ = http_step_env(options={"retry": {"on_status": [409]}})

    with pytest.raises(ConnectorError) as caught:
        _request(ctx, path="/status/409")

    assert caught.value.transient is True


def test_expect_status_accepts_listed_codes_and_rejects_others(http_step_env) -> None:
    ctx, _ = http_step_env()

    accepted = _request(ctx, path="/status/404", expect_status=[200, 404])
    with pytest.raises(ConnectorError, match="HTTP 200 for GET"):
        _request(ctx, path="/status/200", expect_status=[201])

    assert accepted.output["status_code"] == 404


def test_flaky_endpoint_fails_then_succeeds_on_the_next_attempt(http_server: HttpTestServer, http_step_env) -> None:
    ctx, _ = http_step_env()
    key = uuid.uuid4().hex

    with pytest.raises(ConnectorError) as first:
        _request(ctx, path=f"/flaky/{key}", params={"fail": 1})
    second = _request(ctx, path=f"/flaky/{key}", params={"fail": 1})

    assert first.value.transient is True
    assert second.output["json"] == {"attempt": 2, "ok": True}


def test_slow_answer_times_out_transiently(http_step_env) -> None:
    ctx, _ = http_step_env()

    with pytest.raises(ConnectorError, match=r"^Timed out after 0.3s: GET http://127\.0\.0\.1:\d+/slow") as caught:
        _request(ctx, path="/slow", params={"seconds": 2}, timeout_seconds=0.3)

    assert caught.value.transient is True


def test_refused_connection_is_transient(http_step_env) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    ctx, _ = http_step_env(config={"base_url": f"http://127.0.0.1:{closed_port}"})

    with pytest.raises(ConnectorError, match="Connection refused or unreachable") as caught:
        _request(ctx, path="/echo")

    assert caught.value.transient is True


def test_connection_dropped_without_answer_is_transient(http_step_env) -> None:
    ctx, _ = http_step_env()

    with pytest.raises(ConnectorError, match="Connection dropped") as caught:
        _request(ctx, path="/drop")

    assert caught.value.transient is True


def test_https_with_the_servers_ca_bundle_succeeds(http_server: HttpTestServer, http_step_env) -> None:
    ctx, _ = http_step_env(config={"base_url": http_server.https_url}, options={"verify_ssl": str(http_server.ca_file)})

    result = _request(ctx, path="/echo")

    assert result.output["status_code"] == 200


def test_https_with_an_untrusted_certificate_fails_permanently(http_server: HttpTestServer, http_step_env) -> None:
    ctx, _ = http_step_env(config={"base_url": http_server.https_url})

    with pytest.raises(ConnectorError, match="TLS certificate not trusted") as caught:
        _request(ctx, path="/echo")

    assert caught.value.transient is False


def test_https_without_verification_works_and_is_logged_once(http_server: HttpTestServer, http_step_env) -> None:
    ctx, events = http_step_env(config={"base_url": http_server.https_url}, options={"verify_ssl": "false"})

    _request(ctx, path="/echo")
    _request(ctx, path="/echo")

    assert len(events.named("http_tls_unverified")) == 1


def test_httpx_driver_name_is_the_same_connector(http_step_env) -> None:
    ctx, _ = http_step_env(driver="httpx")

    assert _request(ctx, path="/status/200").output["status_code"] == 200


def test_retries_option_becomes_the_default_step_retry_policy(http_step_env) -> None:
    ctx, _ = http_step_env(options={"retries": 2})
    other, _ = http_step_env(options={"retry": {"max_attempts": 1}})

    policy = ctx.connector("api").default_retry()

    assert (policy.max_attempts, policy.backoff_seconds, policy.factor, policy.max_delay_seconds) == (3, 1.0, 2.0, 5.0)
    assert policy.transient_only is True
    assert other.connector("api").default_retry().max_attempts == 2


def test_relative_path_without_base_url_is_a_permanent_error(http_step_env) -> None:
    ctx, _ = http_step_env(config={"base_url": None})

    with pytest.raises(ConnectorError, match=r"has no config\.base_url") as caught:
        _request(ctx, path="/echo")

    assert caught.value.transient is False
