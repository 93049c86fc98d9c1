"""``rest`` credentials stay with their origin: redirects, https→http, absolute URLs in ``path``, Basic user info."""

from __future__ import annotations

import base64

import pytest

from aetherflow.errors import ConnectorError
from tests.servers.httpserver import HttpTestServer
from tests.support.context import run_step

TOKEN = "tok-0123456789"
CREDENTIALED = {"bearer_token": TOKEN, "headers": {"X-Team": "data", "X-Tenant": "acme-tenant"}}


def _request(ctx, **inputs):
    return run_step(ctx, "http_request", {"resource": "api", **inputs})


def test_a_redirect_to_another_host_drops_the_token_and_the_resource_headers(
    http_server: HttpTestServer, http_step_env
) -> None:
    ctx, events = http_step_env(config=CREDENTIALED)

    result = _request(
        ctx,
        path="/redirect",
        params={"to": f"{http_server.other_url}/echo"},
        headers={"X-Run": "r1", "X-Api-Key": "step-key-123"},
    )

    received = result.output["json"]["headers"]
    assert result.output["status_code"] == 200
    assert received["x-run"] == "r1"
    for name in ("authorization", "x-team", "x-tenant", "x-api-key"):
        assert name not in received
    [withheld] = events.named("http_credentials_withheld")
    assert withheld["origin"] == http_server.url and withheld["redirect_origin"] == http_server.other_url


def test_a_redirect_within_the_origin_keeps_the_credentials(http_step_env) -> None:
    ctx, events = http_step_env(config=CREDENTIALED)

    result = _request(ctx, path="/redirect", params={"to": "/echo"})

    received = result.output["json"]["headers"]
    assert received["authorization"] == f"Bearer {TOKEN}"
    assert received["x-tenant"] == "acme-tenant"
    assert events.named("http_credentials_withheld") == []


def test_a_redirect_chain_that_leaves_the_origin_and_comes_back_gets_the_credentials_only_at_home(
    http_server: HttpTestServer, http_step_env
) -> None:
    ctx, _ = http_step_env(config=CREDENTIALED)
    back = f"{http_server.url}/echo"

    result = _request(ctx, path="/redirect", params={"to": f"{http_server.other_url}/redirect?to={back}"})

    [away] = http_server.requests_to(http_server.other_url, "/redirect")
    assert "Authorization" not in away["headers"] and "X-Tenant" not in away["headers"]
    assert result.output["json"]["headers"]["authorization"] == f"Bearer {TOKEN}"


def test_an_https_to_http_redirect_is_refused_permanently_naming_the_origins_only(
    http_server: HttpTestServer, http_step_env
) -> None:
    ctx, _ = http_step_env(
        config={"base_url": http_server.https_url, **CREDENTIALED}, options={"verify_ssl": str(http_server.ca_file)}
    )
    before = len(http_server.requests_to(http_server.url, "/https-downgrade"))

    with pytest.raises(ConnectorError) as caught:
        _request(ctx, path="/redirect", params={"to": f"{http_server.url}/https-downgrade?token={TOKEN}"})

    assert str(caught.value) == (
        f"Redirect from {http_server.https_url} to {http_server.url} refused: https to http would send the request "
        "in cleartext (resource 'api')"
    )
    assert caught.value.transient is False
    assert len(http_server.requests_to(http_server.url, "/https-downgrade")) == before


def test_an_http_to_https_redirect_to_another_port_is_another_origin(
    http_server: HttpTestServer, http_step_env
) -> None:
    ctx, _ = http_step_env(config=CREDENTIALED, options={"verify_ssl": str(http_server.ca_file)})

    result = _request(ctx, path="/redirect", params={"to": f"{http_server.https_url}/echo"})

    assert "authorization" not in result.output["json"]["headers"]


def test_an_absolute_path_on_another_origin_is_refused_before_any_request(
    http_server: HttpTestServer, http_step_env
) -> None:
    ctx, _ = http_step_env(config=CREDENTIALED)
    before = len(http_server.requests_to(http_server.other_url, "/echo"))

    with pytest.raises(ConnectorError) as caught:
        _request(ctx, path=f"http://someone:pw-in-url@127.0.0.1:{http_server.other_url.rsplit(':', 1)[1]}/echo?k=v")

    message = str(caught.value)
    assert message.startswith(
        f"REST resource 'api': the URL in path has the origin {http_server.other_url}, not {http_server.url} "
        "of config.base_url"
    )
    assert "options.allow_other_origins: true" in message
    assert "pw-in-url" not in message and TOKEN not in message and "/echo" not in message
    assert caught.value.transient is False
    assert len(http_server.requests_to(http_server.other_url, "/echo")) == before


def test_an_absolute_path_on_the_resource_origin_gets_the_credentials(
    http_server: HttpTestServer, http_step_env
) -> None:
    ctx, _ = http_step_env(config={"base_url": f"{http_server.url}/api/v1", **CREDENTIALED})

    result = _request(ctx, path=f"{http_server.url.upper()}/echo")  # scheme and host compare case-insensitively

    assert result.output["json"]["headers"]["authorization"] == f"Bearer {TOKEN}"


def test_a_port_that_only_differs_from_the_default_is_still_the_same_origin(http_step_env) -> None:
    ctx, _ = http_step_env(config={"base_url": "http://127.0.0.1:80/api"})
    connector = ctx.connector("api")

    assert connector.url_for("http://127.0.0.1/x") == "http://127.0.0.1/x"
    with pytest.raises(ConnectorError, match=r"has the origin http://127\.0\.0\.1:8080, not http://127\.0\.0\.1:80 "):
        connector.url_for("http://127.0.0.1:8080/x")
    with pytest.raises(ConnectorError, match=r"has the origin https://127\.0\.0\.1:443, not http://127\.0\.0\.1:80 "):
        connector.url_for("https://127.0.0.1/x")


def test_allow_other_origins_accepts_the_text_forms_of_true_and_refuses_others(http_step_env) -> None:
    allowed, _ = http_step_env(options={"allow_other_origins": "yes"})
    refused, _ = http_step_env(options={"allow_other_origins": "sometimes"})

    assert allowed.connector("api").url_for("http://example.invalid/x") == "http://example.invalid/x"
    with pytest.raises(ConnectorError, match=r"options\.allow_other_origins must be a boolean"):
        refused.connector("api")


def test_user_info_in_base_url_is_sent_as_basic_auth_to_the_origin_only(
    http_server: HttpTestServer, http_step_env
) -> None:
    base = http_server.url.replace("http://", "http://svc%40acme:p%3Ass@")
    ctx, _ = http_step_env(config={"base_url": base})
    basic = "Basic " + base64.b64encode(b"svc@acme:p:ss").decode()

    home = _request(ctx, path="/echo")
    away = _request(ctx, path="/redirect", params={"to": f"{http_server.other_url}/echo"})

    assert home.output["json"]["headers"]["authorization"] == basic
    assert "authorization" not in away.output["json"]["headers"]


def test_a_303_after_a_post_becomes_a_get_without_the_body(http_step_env) -> None:
    ctx, _ = http_step_env()

    result = _request(ctx, method="POST", path="/redirect", params={"to": "/echo", "status": 303}, json={"a": 1})

    echo = result.output["json"]
    assert (echo["method"], echo["body"]) == ("GET", "")
    assert "content-type" not in echo["headers"]


def test_a_307_keeps_the_method_and_the_body(http_step_env) -> None:
    ctx, _ = http_step_env()

    result = _request(ctx, method="PUT", path="/redirect", params={"to": "/echo", "status": 307}, body="payload ✓")

    assert (result.output["json"]["method"], result.output["json"]["body"]) == ("PUT", "payload ✓")


def test_an_endless_redirect_loop_fails_permanently(http_step_env) -> None:
    ctx, _ = http_step_env()

    with pytest.raises(
        ConnectorError, match=r"^Too many redirects \(>10\) for GET http://127\.0\.0\.1:\d+/loop "
    ) as caught:
        _request(ctx, path="/loop")

    assert caught.value.transient is False


def test_a_scheme_relative_redirect_to_another_host_is_another_origin(
    http_server: HttpTestServer, http_step_env
) -> None:
    ctx, _ = http_step_env(config=CREDENTIALED)
    other = http_server.other_url.removeprefix("http:")

    result = _request(ctx, path="/redirect", params={"to": f"{other}/echo"})

    assert result.output["json"]["headers"].get("authorization") is None


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://127.0.0.1/x", "javascript:alert(1)"])
def test_a_redirect_to_a_non_http_url_is_refused(location: str, http_server: HttpTestServer, http_step_env) -> None:
    ctx, _ = http_step_env(config=CREDENTIALED)

    with pytest.raises(ConnectorError) as caught:
        _request(ctx, path="/redirect", params={"to": location})

    assert str(caught.value) == f"Redirect from {http_server.url} to a non-http(s) URL refused (resource 'api')"
    assert caught.value.transient is False


def test_user_info_that_looks_like_the_resource_host_does_not_fool_the_origin_check(
    http_server: HttpTestServer, http_step_env
) -> None:
    ctx, _ = http_step_env(config=CREDENTIALED)
    disguised = f"{http_server.url}@127.0.0.2:9/echo"  # the host is 127.0.0.2; the rest is user info

    with pytest.raises(ConnectorError, match=r"has the origin http://127\.0\.0\.2:9, not "):
        _request(ctx, path=disguised)


def test_allow_other_origins_takes_the_same_short_words_as_settings(http_step_env) -> None:
    allowed, _ = http_step_env(options={"allow_other_origins": "Y"})

    assert allowed.connector("api").url_for("http://example.invalid/x") == "http://example.invalid/x"
