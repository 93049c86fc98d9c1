"""The one lax boolean parser: which forms mean true or false, and which are refused with the value's location."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from aetherflow.booleans import FALSE_WORDS, TRUE_WORDS, NotABoolean, bool_word, parse_lax_bool
from aetherflow.errors import ConnectorError, InputError, is_permanent
from aetherflow.settings import load_settings

HOSTILE = [
    "1.0",
    "2",
    "-1",
    "",
    " ",
    "\x00",
    "true\x00",
    "y es",
    "yes please",
    "\uff59\uff45\uff53",  # "yes" in fullwidth letters
    "\u0443es",  # Cyrillic u
    "ye\u017f",  # long s, which casefold() would turn into "yes"
    "\uff34\uff32\uff35\uff25",  # "TRUE" in fullwidth letters
    "\uff11",  # fullwidth one
    "None",
    "null",
]


@pytest.mark.parametrize("text", [*sorted(TRUE_WORDS), "TRUE", "Yes", "ON", "T", "Y", " TRUE ", "yes\n", "\ton"])
def test_the_true_words_in_any_case_and_padding_read_as_true(text: str) -> None:
    assert parse_lax_bool(text, where="options.x") is True


@pytest.mark.parametrize("text", [*sorted(FALSE_WORDS), "FALSE", "No", "OFF", "F", "N", " false\r\n"])
def test_the_false_words_read_as_false(text: str) -> None:
    assert parse_lax_bool(text, where="options.x") is False


@pytest.mark.parametrize("value", [True, False, 0, 1, 0.0, 1.0])
def test_real_booleans_and_the_numbers_zero_and_one_are_accepted(value: object) -> None:
    assert parse_lax_bool(value, where="options.x") is bool(value)


@pytest.mark.parametrize("value", [*HOSTILE, 2, -1, 0.5, float("nan"), None, [], {}, b"yes"])
def test_anything_else_is_refused_naming_where_it_was_written(value: object) -> None:
    with pytest.raises(NotABoolean, match=r"^options\.verify must be a boolean \(") as caught:
        parse_lax_bool(value, where="options.verify")
    assert caught.value.where == "options.verify"
    assert is_permanent(caught.value)


def test_a_refusal_shows_a_nul_escaped_and_a_huge_value_cut_short() -> None:
    with pytest.raises(NotABoolean) as nul:
        parse_lax_bool("tr\x00ue", where="w")
    with pytest.raises(NotABoolean) as huge:
        parse_lax_bool("x" * 10_000, where="w")
    assert "\x00" not in str(nul.value) and "'tr\\x00ue'" in str(nul.value)
    assert len(str(huge.value)) < 200


def test_a_caller_raises_its_own_error_type_with_the_same_message() -> None:
    with pytest.raises(ConnectorError, match=r"^Mail resource 'm' config\.starttls must be a boolean"):
        parse_lax_bool("perhaps", where="Mail resource 'm' config.starttls", error=ConnectorError)
    with pytest.raises(InputError) as caught:
        parse_lax_bool("perhaps", where="env_files[0].optional", error=lambda m: InputError(m, loc="env_files[0]"))
    assert caught.value.issue.loc == "env_files[0]"


def test_bool_word_answers_none_for_a_path_so_verify_ssl_can_take_a_ca_bundle() -> None:
    assert bool_word("/etc/ssl/ca.pem") is None
    assert bool_word(" Off ") is False


@pytest.mark.parametrize("text", [*sorted(TRUE_WORDS | FALSE_WORDS), "TRUE", "Off", *HOSTILE[:13]])
def test_step_inputs_read_through_pydantic_accept_the_same_words(text: str) -> None:
    """Step input models are pydantic models: their bool fields must agree with the parser on every unpadded word."""
    adapter = TypeAdapter(bool)
    try:
        expected: bool | None = adapter.validate_python(text)
    except ValueError:
        expected = None
    assert bool_word(text) == expected


@pytest.mark.parametrize("text", [*sorted(TRUE_WORDS | FALSE_WORDS), " TRUE ", "yes\n", *HOSTILE])
def test_settings_accept_exactly_the_words_the_parser_accepts(text: str) -> None:
    try:
        got: bool | None = load_settings({"AETHERFLOW_STATE_QUICK_CHECK": text}).state_quick_check
    except InputError:
        got = None
    if not text.strip():
        assert got is False  # an empty (or blank) variable counts as unset: the default
    else:
        assert got == bool_word(text)
