"""Which values become secrets: URL passwords, secret query parameters, auth headers, basic pairs, PEM bodies."""

from __future__ import annotations

import base64

import pytest

from aetherflow.redaction import Redactor
from aetherflow.settings import Settings
from aetherflow.spec.resources import register_secret_keys

PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
    "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n"
    "NMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s+CLOyS56YyCFGeJZ\n"
    "-----END PRIVATE KEY-----\n"
)


def test_the_password_of_a_url_in_any_env_value_is_a_secret_but_the_rest_of_the_url_is_not() -> None:
    redactor = Redactor()
    redactor.add_env({"DB_URL": "postgresql://etl:S3cr3t%2Fpw@db.internal:5432/warehouse"})

    assert redactor.mask("postgresql://etl:S3cr3t%2Fpw@db.internal:5432/warehouse") == (
        "postgresql://etl:***@db.internal:5432/warehouse"
    )
    assert redactor.mask("password S3cr3t/pw rejected") == "password *** rejected"


def test_the_base64_of_a_url_user_and_password_is_a_secret() -> None:
    redactor = Redactor()
    redactor.add_value_forms("https://deploy:hunter2xyz@git.example.com/repo.git")

    basic = base64.b64encode(b"deploy:hunter2xyz").decode()
    assert redactor.mask(f"Authorization: Basic {basic}") == "Authorization: Basic ***"


def test_a_password_with_an_unencoded_at_sign_is_found_whole() -> None:
    redactor = Redactor()
    redactor.add_value_forms("postgresql://etl:p@ssword1@host/db")

    assert redactor.mask("p@ssword1") == "***"


def test_query_parameters_named_like_secrets_are_secrets_and_others_are_not() -> None:
    redactor = Redactor()
    redactor.add_env({"HOOK": "https://h.example/x?user=alice&api_key=k3y%2Bvalue&sig_token=abcdef12"})

    assert redactor.mask("alice k3y+value k3y%2Bvalue abcdef12") == "alice *** *** ***"


@pytest.mark.parametrize("header", ["Authorization", "proxy-authorization", "X-Api-Key"])
def test_auth_and_secret_named_headers_are_secrets_with_their_credentials(header: str) -> None:
    redactor = Redactor()
    basic = base64.b64encode(b"svc:pa55word").decode()
    register_secret_keys({"headers": {header: f"Basic {basic}", "Accept": "application/json"}}, redactor)

    assert redactor.mask(f"sent Basic {basic}") == "sent ***"
    assert redactor.mask(f"token {basic} for svc:pa55word") == "token *** for ***"
    assert redactor.mask("application/json") == "application/json"


def test_a_user_and_password_pair_in_config_registers_their_basic_auth_form() -> None:
    redactor = Redactor()
    register_secret_keys({"auth": {"username": "svc", "password": "pa55word"}}, redactor)

    assert redactor.mask(base64.b64encode(b"svc:pa55word").decode()) == "***"


@pytest.mark.parametrize("value", ["false", "True", "null", "None", "yes", "off", "abc", "1234567", " no "])
def test_booleans_null_words_short_values_and_short_digit_strings_are_never_secrets(value: str) -> None:
    redactor = Redactor()
    redactor.add_env({"DB_PASSWORD": value})

    assert not redactor
    assert redactor.mask(f'"network": {value}') == f'"network": {value}'


def test_a_digit_string_of_eight_characters_is_a_secret() -> None:
    redactor = Redactor()
    redactor.add_env({"PIN_SECRET": "12345678"})

    assert redactor.mask("pin 12345678") == "pin ***"


def test_a_pem_key_is_masked_line_by_line_but_its_armor_lines_stay_readable() -> None:
    redactor = Redactor()
    redactor.add_env({"TLS_KEY": PEM})

    masked = [redactor.mask(line) for line in PEM.splitlines()]

    assert masked == ["-----BEGIN PRIVATE KEY-----", "***", "***", "***", "-----END PRIVATE KEY-----"]
    assert redactor.mask(PEM) == "***"


def test_a_pushgateway_url_password_is_known_as_soon_as_the_settings_are() -> None:
    settings = Settings(pushgateway_url="http://metrics:gw-pa55@127.0.0.1:9091")

    redactor = Redactor.for_settings(settings)

    assert redactor.mask("push to http://metrics:gw-pa55@127.0.0.1:9091 failed") == (
        "push to http://metrics:***@127.0.0.1:9091 failed"
    )


def test_truncation_never_ends_with_the_beginning_of_a_secret() -> None:
    redactor = Redactor()
    redactor.add("correct horse battery")
    text = "the key is correct horse battery staple"

    for limit in range(len(text) + 2):
        kept = redactor.truncate(text, limit)

        assert text.startswith(kept) and len(kept) <= limit
        assert not any(kept.endswith("correct horse battery"[:k]) for k in range(1, 21)), limit
        assert kept == (text[:11] if 11 < limit < 32 else text[:limit])


def test_truncation_also_cuts_a_secret_that_started_inside_another_cut_secret() -> None:
    redactor = Redactor()
    redactor.add("wxyz1234")
    redactor.add("z1234QQQ")

    assert redactor.truncate("abc wxyz1234Q", 13) == "abc "
