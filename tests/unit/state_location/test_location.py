"""State locations: which text is a URL, what a ``sqlite:///`` URL names, and URLs shown without their password."""

from __future__ import annotations

from pathlib import Path

import pytest

from aetherflow.errors import StateInputError
from aetherflow.state.backends import first_location, resolve_location
from aetherflow.state.location import is_postgres, parse_state_url, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cr%40t%3A@db:5432/x", "postgresql://app:***@db:5432/x"),
        ("postgresql://app:p@ss@db/x", "postgresql://app:***@db/x"),
        ("postgresql://app@db/x?password=s3cr3t&sslmode=require", "postgresql://app@db/x?password=***&sslmode=require"),
        ("postgresql://app@db/x?options=-csearch_path%3Dprod", "postgresql://app@db/x?options=-csearch_path%3Dprod"),
        ("postgresql://app:'\"\\\n@db/x", "postgresql://app:***@db/x"),
    ],
)
def test_a_url_is_shown_with_its_password_masked(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_a_sqlite_url_names_the_path_after_its_third_slash_as_sqlalchemy_does() -> None:
    assert parse_state_url("sqlite:////var/lib/state/f.db", source="X") == Path("/var/lib/state/f.db")
    assert parse_state_url("sqlite:///state/f.db", source="X") == Path("state/f.db")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sqlite:///", "needs a database path"),
        ("mysql://u:topsecret@h/db", "unsupported state URL mysql://u:***@h/db"),
        ("postgresql:///db", "needs a host"),
    ],
)
def test_an_unusable_state_url_is_input_naming_its_source_without_the_password(text: str, message: str) -> None:
    with pytest.raises(StateInputError) as caught:
        parse_state_url(text, source="AETHERFLOW_STATE_URL")
    assert str(caught.value).startswith("AETHERFLOW_STATE_URL: ") and message in str(caught.value)
    assert "topsecret" not in str(caught.value)


def test_the_first_location_given_wins_and_an_empty_one_counts_as_unset() -> None:
    assert first_location(("", "--state"), (None, "AETHERFLOW_STATE_URL"), ("/a.db", "AETHERFLOW_STATE_PATH")) == (
        "/a.db",
        "AETHERFLOW_STATE_PATH",
    )
    assert first_location((None, "--state")) is None


def test_a_url_in_the_flow_file_is_refused_and_a_directory_path_means_one_file_per_flow(tmp_path: Path) -> None:
    with pytest.raises(StateInputError, match=r"flow\.state\.path must be a path"):
        resolve_location("postgresql://u@h/db", "flow.state.path", "f")
    assert resolve_location(f"{tmp_path}/", "AETHERFLOW_STATE_PATH", "flow1") == tmp_path / "flow1.db"
    assert resolve_location(f"sqlite:///{tmp_path}/", "AETHERFLOW_STATE_URL", "flow1") == tmp_path / "flow1.db"
    url = "postgresql://u@h/db"
    assert resolve_location(url, "--state", "f") == url and is_postgres(url)
