"""Where a setting comes from: settings module > non-empty variable > settings file > default."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from aetherflow.errors import InputError
from aetherflow.redaction import Redactor
from aetherflow.settings import MAX_SETTINGS_FILE_BYTES, Settings, load_settings


@pytest.fixture
def settings_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "settings"
    folder.mkdir()
    return folder


@pytest.fixture
def settings_module(tmp_path: Path) -> Iterator[str]:
    """A module ``aetherflow_test_settings`` whose SETTINGS sets the log level to ERROR."""
    (tmp_path / "aetherflow_test_settings.py").write_text("SETTINGS = {'log_level': 'ERROR'}\n")
    sys.path.insert(0, str(tmp_path))
    yield "aetherflow_test_settings"
    sys.path.remove(str(tmp_path))
    sys.modules.pop("aetherflow_test_settings", None)


def _env(folder: Path, **values: str) -> dict[str, str]:
    return {"AETHERFLOW_SETTINGS_DIR": str(folder), **values}


def test_the_settings_module_wins_over_the_variable_and_the_file(settings_dir: Path, settings_module: str) -> None:
    (settings_dir / "AETHERFLOW_LOG_LEVEL").write_text("WARNING")
    env = _env(settings_dir, AETHERFLOW_LOG_LEVEL="DEBUG", AETHERFLOW_SETTINGS_MODULE=settings_module)
    assert load_settings(env).log_level == "ERROR"


def test_a_settings_file_can_name_the_settings_module(settings_dir: Path, settings_module: str) -> None:
    (settings_dir / "AETHERFLOW_SETTINGS_MODULE").write_text(settings_module + "\n")
    (settings_dir / "AETHERFLOW_LOG_LEVEL").write_text("WARNING")
    assert load_settings(_env(settings_dir)).log_level == "ERROR"


def test_a_non_empty_variable_wins_over_its_settings_file(settings_dir: Path) -> None:
    (settings_dir / "AETHERFLOW_LOG_LEVEL").write_text("WARNING")
    assert load_settings(_env(settings_dir, AETHERFLOW_LOG_LEVEL="DEBUG")).log_level == "DEBUG"


def test_a_settings_file_wins_over_the_default(settings_dir: Path) -> None:
    (settings_dir / "AETHERFLOW_GRACE_SECONDS").write_text("7.5")
    (settings_dir / "AETHERFLOW_STRICT_SANDBOX").write_text("no")
    settings = load_settings(_env(settings_dir))
    assert (settings.grace_seconds, settings.strict_sandbox) == (7.5, False)


def test_the_default_applies_when_no_source_sets_a_setting(settings_dir: Path) -> None:
    settings = load_settings(_env(settings_dir))
    assert (settings.log_level, settings.grace_seconds, settings.env_files) == ("INFO", 20.0, ())


@pytest.mark.parametrize("empty", ["", "   ", "\t\n"])
def test_an_empty_or_blank_variable_counts_as_unset(settings_dir: Path, empty: str) -> None:
    (settings_dir / "AETHERFLOW_PUSHGATEWAY_URL").write_text("http://127.0.0.1:9091")
    env = _env(settings_dir, AETHERFLOW_PUSHGATEWAY_URL=empty, AETHERFLOW_LOG_LEVEL=empty)
    settings = load_settings(env)
    assert (settings.pushgateway_url, settings.log_level) == ("http://127.0.0.1:9091", "INFO")


def test_an_absent_settings_dir_is_read_as_nothing_and_not_warned_about(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        settings = load_settings({"AETHERFLOW_SETTINGS_DIR": str(tmp_path / "absent")})
    assert settings == Settings(settings_dir=str(tmp_path / "absent"))


def test_settings_file_content_is_stripped(settings_dir: Path) -> None:
    (settings_dir / "AETHERFLOW_RUN_ID").write_text("  nightly-1 \r\n\n")
    assert load_settings(_env(settings_dir)).run_id == "nightly-1"


def test_an_empty_settings_file_counts_as_unset(settings_dir: Path) -> None:
    (settings_dir / "AETHERFLOW_LOG_LEVEL").write_text(" \n")
    assert load_settings(_env(settings_dir)).log_level == "INFO"


def test_files_not_named_after_a_setting_are_ignored(settings_dir: Path) -> None:
    (settings_dir / "..data").mkdir()  # a Secret volume's own entries
    (settings_dir / "aetherflow_log_level").write_text("DEBUG")  # the file name is the variable, exactly
    (settings_dir / "OTHER").write_text("x")
    assert load_settings(_env(settings_dir)).log_level == "INFO"


def test_a_bad_value_in_a_settings_file_names_the_variable_and_the_file(settings_dir: Path) -> None:
    (settings_dir / "AETHERFLOW_GRACE_SECONDS").write_text("soon")
    with pytest.raises(InputError) as caught:
        load_settings(_env(settings_dir))
    message = str(caught.value)
    assert message.startswith("AETHERFLOW_GRACE_SECONDS: Input should be a valid number")
    assert str(settings_dir / "AETHERFLOW_GRACE_SECONDS") in message
    assert "\n" not in message


def test_a_newline_inside_a_settings_file_value_is_invalid_for_a_choice(settings_dir: Path) -> None:
    (settings_dir / "AETHERFLOW_LOG_LEVEL").write_text("DEBUG\nINFO\n")
    with pytest.raises(InputError, match=r"^AETHERFLOW_LOG_LEVEL: Input should be 'DEBUG'"):
        load_settings(_env(settings_dir))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"/tmp/state\x00.db", "contains a NUL byte"),
        (b"\xff\xfe/tmp", "is not valid UTF-8"),
        (b"x" * (MAX_SETTINGS_FILE_BYTES + 1), "is larger than 1 MiB"),
    ],
    ids=["nul", "not-utf8", "huge"],
)
def test_a_hostile_settings_file_is_one_input_error_naming_it(settings_dir: Path, content: bytes, reason: str) -> None:
    (settings_dir / "AETHERFLOW_STATE_PATH").write_bytes(content)
    with pytest.raises(InputError) as caught:
        load_settings(_env(settings_dir))
    assert (
        str(caught.value) == f"AETHERFLOW_STATE_PATH: settings file {settings_dir / 'AETHERFLOW_STATE_PATH'} {reason}"
    )


def test_a_settings_file_that_is_a_folder_is_an_input_error(settings_dir: Path) -> None:
    (settings_dir / "AETHERFLOW_RUN_ID").mkdir()
    with pytest.raises(InputError, match=r"^AETHERFLOW_RUN_ID: settings file .* not readable"):
        load_settings(_env(settings_dir))


def test_a_json_list_setting_comes_from_a_file(settings_dir: Path) -> None:
    (settings_dir / "AETHERFLOW_ENV_FILES").write_text('[\n  "/etc/env/a.env"\n]\n')
    assert load_settings(_env(settings_dir)).env_files == ("/etc/env/a.env",)


def test_a_secret_in_a_setting_from_a_file_is_registered_with_the_redactor(settings_dir: Path) -> None:
    (settings_dir / "AETHERFLOW_PUSHGATEWAY_URL").write_text("http://pusher:Zq8-unguessable@127.0.0.1:9091\n")
    redactor = Redactor.for_settings(load_settings(_env(settings_dir)))
    assert "Zq8-unguessable" not in redactor.mask("push to http://pusher:Zq8-unguessable@127.0.0.1:9091 failed")


def test_a_secret_named_setting_from_a_file_is_registered_with_the_redactor(settings_dir: Path) -> None:
    (settings_dir / "AETHERFLOW_SECRET_PATTERNS").write_text("*FLOW_JOB*")
    (settings_dir / "AETHERFLOW_FLOW_JOB").write_text("job-Kq72-private\n")
    redactor = Redactor.for_settings(load_settings(_env(settings_dir)))
    assert redactor.mask("running job-Kq72-private") == "running ***"


def test_a_choice_of_exit_codes_reads_its_number_from_text() -> None:
    assert load_settings({"AETHERFLOW_OVERLAP_EXIT_CODE": " 0 "}).overlap_exit_code == 0
    with pytest.raises(InputError, match=r"^AETHERFLOW_OVERLAP_EXIT_CODE: Input should be 0 or 75$"):
        load_settings({"AETHERFLOW_OVERLAP_EXIT_CODE": "3"})


def test_variable_names_match_in_any_case() -> None:
    assert load_settings({"aetherflow_log_level": "debug"}).log_level == "DEBUG"


def test_settings_built_in_code_read_nothing_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AETHERFLOW_LOG_LEVEL", "DEBUG")
    assert Settings().log_level == "INFO"
    assert Settings(log_level="ERROR").with_overrides(run_id="r9", flow_file=None).run_id == "r9"
