"""Log lines are masked value by value before serialization: JSON stays valid, text stays one line per event."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from aetherflow.events import EventBus
from aetherflow.observability.logs import configure
from aetherflow.observability.textsummary import human_duration
from aetherflow.redaction import Redactor


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def _log(fmt: str, redactor: Redactor, event: str, **fields: Any) -> str:
    stream = io.StringIO()
    configure(fmt=fmt, level="INFO", redactor=redactor, stream=stream)
    EventBus().emit(event, **fields)
    return stream.getvalue()


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("secret", ['pa"ss\\word', "tab\there1", 'quote"and\\back', "new\nline pw"])
def test_a_secret_with_json_special_characters_is_masked_in_json_logs(secret: str) -> None:
    redactor = Redactor()
    redactor.add_env({"DB_PASSWORD": secret})

    out = _log("json", redactor, "step_failed", error=f"login with {secret} refused", nested={"argv": [secret]})

    record = json.loads(out)
    assert record["error"] == "login with *** refused"
    assert record["nested"] == {"argv": ["***"]}
    assert json.dumps(secret)[1:-1] not in out


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("value", ["false", "true", "null", "1234", "2.5"])
def test_a_secret_named_variable_with_a_plain_value_never_breaks_json_lines(value: str) -> None:
    redactor = Redactor()
    redactor.add_env({"FEATURE_TOKEN": value})

    out = _log("json", redactor, "run_start", network=False, retries=1234, ratio=2.5, note=None)

    record = json.loads(out)
    assert (record["network"], record["retries"], record["ratio"], record["note"]) == (False, 1234, 2.5, None)


@pytest.mark.usefixtures("restore_logging")
def test_non_json_values_are_logged_as_masked_strings() -> None:
    redactor = Redactor()
    redactor.add("s3cr3t-value")

    out = _log("json", redactor, "x", path=ValueError("bad s3cr3t-value"), nan=float("nan"), raw=b"s3cr3t-value")

    assert json.loads(out)["path"] == "bad ***"
    assert json.loads(out)["nan"] == "nan"
    assert json.loads(out)["raw"] == "***"


@pytest.mark.usefixtures("restore_logging")
def test_a_child_line_with_newlines_cannot_forge_a_text_log_line() -> None:
    forged = "oops\n2026-01-01T00:00:00.000Z INFO run_finished status=SUCCESS\r\x1b[2K"

    out = _log("text", Redactor(), "external_process_stderr", message=forged)

    assert out.count("\n") == 1
    escaped = "oops\\n2026-01-01T00:00:00.000Z INFO run_finished status=SUCCESS\\x0d\\x1b[2K"
    assert out.endswith(f' external_process_stderr message="{escaped}"\n')


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("plain", "plain"),
        ("two words", '"two words"'),
        ("a=b", '"a=b"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("tab\tnul\x00del\x7fc1\x85", '"tab\\tnul\\x00del\\x7fc1\\x85"'),
        ("ls\u2028ps\u2029", '"ls\\u2028ps\\u2029"'),
        (None, "null"),
        ("", '""'),
        ("héllo→ok", "héllo→ok"),
    ],
)
def test_text_values_are_quoted_and_escaped(value: str | None, shown: str) -> None:
    stream = io.StringIO()
    configure(fmt="text", level="INFO", redactor=Redactor(), stream=stream)
    try:
        EventBus().emit("e", v=value)
    finally:
        logging.getLogger().handlers.clear()

    assert stream.getvalue().rstrip("\n").endswith(f" e v={shown}")


@pytest.mark.usefixtures("restore_logging")
def test_a_secret_is_masked_before_it_is_escaped_in_text_lines() -> None:
    redactor = Redactor()
    redactor.add_env({"API_TOKEN": 'tok"en\nline2'})

    out = _log("text", redactor, "e", message='got tok"en\nline2 back')

    assert out.rstrip("\n").endswith(' e message="got *** back"')


@pytest.mark.usefixtures("restore_logging")
def test_a_library_message_is_masked_and_kept_on_one_line() -> None:
    redactor = Redactor()
    redactor.add("lib-secret-1")
    stream = io.StringIO()
    configure(fmt="text", level="INFO", redactor=redactor, stream=stream)

    logging.getLogger("somelib").warning("failed for %s\nforged line", "lib-secret-1")

    assert stream.getvalue().endswith(' WARNING log logger=somelib message="failed for ***\\nforged line"\n')


@pytest.mark.usefixtures("restore_logging")
def test_a_library_traceback_is_escaped_into_its_one_line() -> None:
    stream = io.StringIO()
    configure(fmt="text", level="INFO", redactor=Redactor(), stream=stream)

    try:
        raise KeyError("k")
    except KeyError:
        logging.getLogger("somelib").exception("lookup failed")

    (line,) = stream.getvalue().splitlines()
    assert 'message="lookup failed\\nTraceback (most recent call last):\\n' in line
    assert line.endswith("KeyError: 'k'\"")


@pytest.mark.usefixtures("restore_logging")
def test_a_text_run_summary_is_short_and_a_json_one_is_whole() -> None:
    summary: dict[str, Any] = {
        "status": "FAILED",
        "exit_code": 1,
        "attempt": 2,
        "duration_ms": 187_400,
        "bundle_fingerprint": None,
        "status_counts": {"SUCCESS": 2, "FAILED": 1},
        "jobs": [{"job_id": "a", "status": "SUCCESS"}, {"job_id": "load", "status": "FAILED", "error": "x\ny"}],
    }

    text = _log("text", Redactor(), "run_summary", **summary)
    whole = json.loads(_log("json", Redactor(), "run_summary", **summary))

    assert text.split(" ", 2)[2] == (
        "run_summary status=FAILED exit_code=1 duration=3m07s counts=FAILED:1,SUCCESS:2 failed_jobs=load\n"
    )
    assert {k: whole[k] for k in summary} == summary


@pytest.mark.parametrize(
    ("ms", "shown"), [(0, "0.0s"), (4_249, "4.2s"), (59_949, "59.9s"), (60_000, "1m00s"), (7_500_000, "2h05m00s")]
)
def test_durations_in_a_text_summary_read_as_a_human_would_write_them(ms: int, shown: str) -> None:
    assert human_duration(ms) == shown
