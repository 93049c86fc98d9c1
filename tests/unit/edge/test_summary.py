"""The termination message: shapes, key order, the 4096-byte cap and when the file is written (container.md §5)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aetherflow.edge.summary import (
    MAX_BYTES,
    render_termination_message,
    termination_from_summary,
    termination_invalid,
    termination_overlap,
    write_termination_message,
)


def summary(jobs: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "flow_id": "sales",
        "run_id": "nightly-29012345",
        "status": "FAILED",
        "exit_code": 1,
        "attempt": 2,
        "duration_ms": 12345,
        "bundle_fingerprint": None,
        "status_counts": {"SUCCESS": 1, "FAILED": 1, "BLOCKED": 1},
        "jobs": jobs,
    }
    doc.update(overrides)
    return doc


def job(
    job_id: str, status: str, error: str | None = None, steps: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "status": status,
        "duration_ms": 5,
        "skip_reason": None,
        "error": error,
        "steps": steps or [],
    }


def step(step_id: str, status: str, error: str | None = None) -> dict[str, Any]:
    out = {"step_id": step_id, "step_type": "external.process", "status": status, "duration_ms": 3, "attempts": 1}
    if error is not None:
        out["error"] = error
    return out


def failed_jobs(count: int, error: str = "ConnectorError: upload refused") -> list[dict[str, Any]]:
    return [job(f"job{i:03d}", "FAILED", error, [step("upload", "FAILED", error)]) for i in range(count)]


def test_summary_message_has_the_spec_keys_in_order() -> None:
    doc = termination_from_summary(summary([job("extract", "SUCCESS")]))

    assert list(doc) == ["run_id", "flow_id", "status", "exit_code", "attempt", "duration_seconds", "counts", "failed"]
    assert doc["counts"] == {"SUCCESS": 1, "FAILED": 1, "BLOCKED": 1}


def test_duration_is_seconds_rounded_to_three_decimals() -> None:
    assert termination_from_summary(summary([], duration_ms=12345))["duration_seconds"] == 12.345
    assert termination_from_summary(summary([], duration_ms=7))["duration_seconds"] == 0.007


def test_failed_lists_failed_and_interrupted_jobs_in_execution_order_with_the_failing_step() -> None:
    jobs = [
        job("extract", "SUCCESS", steps=[step("pull", "SUCCESS")]),
        job(
            "load",
            "FAILED",
            "ConnectorError: refused",
            [step("prep", "SUCCESS"), step("upload", "FAILED", "ConnectorError: refused")],
        ),
        job("report", "BLOCKED", "dependency load is FAILED"),
        job(
            "archive",
            "INTERRUPTED",
            "Interrupted: received SIGTERM",
            [step("zip", "INTERRUPTED", "Interrupted: received SIGTERM")],
        ),
    ]

    doc = termination_from_summary(summary(jobs))

    assert doc["failed"] == [
        {"job_id": "load", "step_id": "upload", "error": "ConnectorError: refused"},
        {"job_id": "archive", "step_id": "zip", "error": "Interrupted: received SIGTERM"},
    ]


def test_a_job_level_failure_has_a_null_step() -> None:
    doc = termination_from_summary(summary([job("load", "FAILED", "LockLost: Lock lost: job:load")]))

    assert doc["failed"] == [{"job_id": "load", "step_id": None, "error": "LockLost: Lock lost: job:load"}]


def test_only_the_first_line_of_an_error_is_kept() -> None:
    error = "RuntimeError: external.process failed with exit code 3\n['sh', '-c', 'exit 3']\nstderr text"

    doc = termination_from_summary(summary([job("load", "FAILED", error, [step("run", "FAILED", error)])]))

    assert doc["failed"][0]["error"] == "RuntimeError: external.process failed with exit code 3"


def test_errors_pass_through_the_redactor() -> None:
    jobs = [
        job(
            "load",
            "FAILED",
            "ConnectorError: login hunter22 refused",
            [step("upload", "FAILED", "ConnectorError: login hunter22 refused")],
        )
    ]

    doc = termination_from_summary(summary(jobs), redact=lambda text: text.replace("hunter22", "***"))

    assert doc["failed"][0]["error"] == "ConnectorError: login *** refused"


def test_a_successful_run_has_an_empty_failed_list() -> None:
    doc = termination_from_summary(summary([job("extract", "SUCCESS")], status="SUCCESS", exit_code=0))

    assert doc["failed"] == []
    assert (doc["status"], doc["exit_code"]) == ("SUCCESS", 0)


def test_invalid_message_omits_an_unknown_flow_id() -> None:
    assert termination_invalid("<root>: settings:invalid - Flow file not found: /x.yaml", None) == {
        "status": "INVALID",
        "exit_code": 2,
        "error": "<root>: settings:invalid - Flow file not found: /x.yaml",
    }


def test_invalid_message_starts_with_a_known_flow_id() -> None:
    doc = termination_invalid("AETHERFLOW_RUN_ID: bad", "sales")

    assert list(doc) == ["flow_id", "status", "exit_code", "error"]


def test_overlap_message_has_the_spec_keys_in_order() -> None:
    doc = termination_overlap("manual-1", "sales", "LockBusy: Lock not acquired: flow:sales (held by nightly-1)")

    assert list(doc) == ["run_id", "flow_id", "status", "exit_code", "error"]
    assert (doc["status"], doc["exit_code"]) == ("OVERLAP", 75)


def test_the_overlap_message_carries_the_configured_overlap_code() -> None:
    doc = termination_overlap("r1", "sales", "LockBusy: Lock not acquired: run:sales:r1 (held by r1#0badf00d)", 0)

    assert (doc["status"], doc["exit_code"]) == ("OVERLAP", 0)


def test_a_short_message_is_one_json_line_unchanged() -> None:
    doc = termination_from_summary(summary(failed_jobs(2)))

    text = render_termination_message(doc)

    assert text.endswith("\n") and text.count("\n") == 1
    assert json.loads(text) == doc


def test_too_many_failed_jobs_are_dropped_from_the_end_keeping_the_first() -> None:
    doc = termination_from_summary(summary(failed_jobs(200)))

    text = render_termination_message(doc)
    kept = json.loads(text)["failed"]

    assert len(text.encode()) <= MAX_BYTES
    assert 1 <= len(kept) < 200
    assert [entry["job_id"] for entry in kept] == [f"job{i:03d}" for i in range(len(kept))]
    assert all(entry["error"] == "ConnectorError: upload refused" for entry in kept)


def test_a_huge_error_is_shortened_with_an_ellipsis_after_dropping_the_other_entries() -> None:
    doc = termination_from_summary(summary(failed_jobs(3, "ConnectorError: " + "x" * 10_000)))

    text = render_termination_message(doc)
    [entry] = json.loads(text)["failed"]

    assert len(text.encode()) <= MAX_BYTES
    assert entry["job_id"] == "job000"
    assert entry["error"].startswith("ConnectorError: xxx") and entry["error"].endswith("...")
    assert len(text.encode()) > MAX_BYTES - 16  # shortened only as much as needed


def test_shortening_counts_utf8_bytes_and_json_escapes() -> None:
    for filler in ("é", "😀", '"', "\\", "\t"):
        doc = termination_from_summary(summary(failed_jobs(1, "StepFailed: " + filler * 5000)))

        text = render_termination_message(doc)

        assert len(text.encode("utf-8")) <= MAX_BYTES, filler
        assert json.loads(text)["failed"][0]["error"].startswith("StepFailed: " + filler)


def test_a_huge_invalid_error_is_shortened() -> None:
    text = render_termination_message(termination_invalid("jobs[0]: schema:x - " + "y" * 9000, "sales"))

    doc = json.loads(text)
    assert len(text.encode()) <= MAX_BYTES
    assert (doc["flow_id"], doc["status"], doc["exit_code"]) == ("sales", "INVALID", 2)


@settings(max_examples=60, deadline=None)
@given(errors=st.lists(st.text(min_size=0, max_size=3000), min_size=0, max_size=8))
def test_any_summary_renders_as_one_parseable_line_within_the_cap(errors: list[str]) -> None:
    jobs = [job(f"j{i}", "FAILED", e, [step("s", "FAILED", e)]) for i, e in enumerate(errors)]

    text = render_termination_message(termination_from_summary(summary(jobs)))

    assert len(text.encode("utf-8")) <= MAX_BYTES
    assert text.count("\n") == 1
    assert json.loads(text)["run_id"] == "nightly-29012345"


def test_the_message_is_written_only_when_the_file_exists(tmp_path: Path) -> None:
    path = tmp_path / "termination-log"

    write_termination_message(str(path), termination_invalid("boom", None))

    assert not path.exists()


def test_the_message_overwrites_the_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "termination-log"
    path.write_text("x" * 10_000)

    write_termination_message(str(path), termination_invalid("boom", "sales"))

    assert json.loads(path.read_text()) == {"flow_id": "sales", "status": "INVALID", "exit_code": 2, "error": "boom"}


def test_an_unwritable_target_is_ignored_without_raising(tmp_path: Path) -> None:
    write_termination_message(str(tmp_path), termination_invalid("boom", None))  # a directory
    write_termination_message("", termination_invalid("boom", None))
