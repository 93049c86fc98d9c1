"""The env-file rules, identical through AETHERFLOW_ENV_FILES and AETHERFLOW_ENV_FILES_JSON: `KEY=VALUE` lines, an
optional `export ` prefix, matching quotes stripped literally, `#` a comment only at the start of a line, no
expansion; a broken file is one error naming the file and the line, never a value."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from aetherflow.errors import InputError
from aetherflow.redaction import Redactor
from aetherflow.settings import Settings
from aetherflow.spec.envfile import MAX_ENV_FILE_BYTES
from aetherflow.spec.environment import build_env_snapshot

SECRET = "hunter2-do-not-echo"

Load = Callable[[str | bytes], Mapping[str, str]]


@pytest.fixture(params=["env_files", "env_files_json"])
def load(request: pytest.FixtureRequest, tmp_path: Path) -> Load:
    """Write the given bytes as an env file and load it through one of the two settings."""

    def _load(content: str | bytes) -> Mapping[str, str]:
        path = tmp_path / "app.env"
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        files = [str(path)]
        settings = Settings(env_files=files) if request.param == "env_files" else Settings(env_files_json=files)
        return dict(build_env_snapshot({}, settings, Redactor()))

    return _load


def _error(load: Load, content: str | bytes) -> str:
    with pytest.raises(InputError) as caught:
        load(content)
    message = str(caught.value)
    assert "app.env" in message and SECRET not in message
    assert "\n" not in message
    return message


def test_an_export_prefix_is_not_part_of_the_key(load: Load) -> None:
    assert load("export TOKEN=v\nexport  SPACED = w\n") == {"TOKEN": "v", "SPACED": "w"}


def test_a_key_named_export_is_still_a_key(load: Load) -> None:
    assert load("export=1\nexport =2\n") == {"export": "2"}


def test_matching_quotes_are_stripped_and_their_content_kept_literally(load: Load) -> None:
    env = load("A=\"a\\nb\"\nB='c\\td'\nC=\"it's\"\nD=''\n")

    assert env == {"A": "a\\nb", "B": "c\\td", "C": "it's", "D": ""}


def test_mismatched_quotes_are_kept(load: Load) -> None:
    env = load('A="open\nB=\'x"\nC=close\'\nD="\n')

    assert env == {"A": '"open', "B": "'x\"", "C": "close'", "D": '"'}


def test_a_hash_inside_an_unquoted_value_is_kept(load: Load) -> None:
    assert load("A=b # not a comment\nB=x#y\nC=#z\n") == {"A": "b # not a comment", "B": "x#y", "C": "#z"}


def test_comment_lines_and_blank_lines_are_ignored(load: Load) -> None:
    assert load("# A=1\n\n   \n  # B=2\n\t\nC=3\n") == {"C": "3"}


def test_an_equals_sign_inside_a_value_is_kept(load: Load) -> None:
    assert load('URL=a=b==c\nQ="x=y"\n') == {"URL": "a=b==c", "Q": "x=y"}


def test_variables_are_not_expanded(load: Load) -> None:
    assert load('HOME_COPY=${HOME}\nB=$A\nA="${B:-x}"\n') == {"HOME_COPY": "${HOME}", "B": "$A", "A": "${B:-x}"}


def test_spaces_around_the_key_and_the_value_are_trimmed(load: Load) -> None:
    assert load('  KEY  =  value with inner spaces  \n\tT\t=\t"  kept  "\n') == {
        "KEY": "value with inner spaces",
        "T": "  kept  ",
    }


def test_crlf_line_endings_are_accepted(load: Load) -> None:
    assert load(b'A=1\r\nB="two"\r\n# c\r\n\r\nC=3') == {"A": "1", "B": "two", "C": "3"}


def test_unicode_line_separators_inside_a_value_are_part_of_the_value(load: Load) -> None:
    env = load("A=x\u2028y\nB=p\x0cq\x1er\x85s\n")

    assert env == {"A": "x\u2028y", "B": "p\x0cq\x1er\x85s"}


def test_a_line_without_an_equals_sign_is_skipped(load: Load) -> None:
    assert load("just words\nexport LONELY\nA=1\n") == {"A": "1"}


def test_a_line_with_an_empty_key_is_an_error_naming_the_line_not_the_value(load: Load) -> None:
    message = _error(load, f"A=1\n={SECRET}\n")

    assert "line 2" in message


def test_a_key_with_whitespace_inside_is_an_error_naming_the_line_not_the_value(load: Load) -> None:
    message = _error(load, f"A=1\n\nDB PASSWORD={SECRET}\n")

    assert "line 3" in message


def test_a_nul_byte_is_an_error_naming_the_file_and_the_line(load: Load) -> None:
    message = _error(load, f"A=1\nB={SECRET}\x00tail\n".encode())

    assert "line 2" in message and "NUL" in message


def test_invalid_utf8_is_an_error_naming_the_file_and_the_line(load: Load) -> None:
    message = _error(load, b"A=1\nB=2\nC=" + SECRET.encode() + b"\xff\xfe\n")

    assert "line 3" in message and "UTF-8" in message


def test_a_huge_file_is_an_error_naming_the_limit(load: Load) -> None:
    message = _error(load, b"A=" + b"x" * MAX_ENV_FILE_BYTES + b"\n")

    assert str(MAX_ENV_FILE_BYTES) in message or "MiB" in message


def test_a_file_at_the_limit_is_read(load: Load) -> None:
    line = b"A=" + b"x" * (MAX_ENV_FILE_BYTES - 3) + b"\n"

    assert len(load(line)["A"]) == MAX_ENV_FILE_BYTES - 3


def test_the_last_definition_of_a_key_wins(load: Load) -> None:
    assert load("A=1\nexport A=2\n") == {"A": "2"}


def test_a_json_env_file_over_the_limit_is_an_error_too(tmp_path: Path) -> None:
    path = tmp_path / "app.json"
    path.write_text(json.dumps({"A": "x" * MAX_ENV_FILE_BYTES}))

    with pytest.raises(InputError, match="larger than"):
        build_env_snapshot({}, Settings(env_files_json=[str(path)]), Redactor())
