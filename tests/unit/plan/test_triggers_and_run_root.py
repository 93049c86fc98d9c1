"""Validation of ``trigger``, ``flow.timezone`` and the ``run`` root's keys in templates."""

from __future__ import annotations

from pathlib import Path

from aetherflow.settings import Settings
from tests.unit.plan.helpers import check, codes

JOB = "    steps:\n      - id: s\n        type: check_items\n        inputs: {items: [1]}\n"


def _flow(job_lines: str = "", flow_lines: str = "", inputs: str = "{items: [1]}") -> str:
    return (
        "version: 1\nflow:\n  id: f\n"
        + flow_lines
        + "jobs:\n  - id: a\n    steps:\n      - id: s\n        type: check_items\n        inputs: {items: [1]}\n"
        + "  - id: b\n    depends_on: [a]\n"
        + job_lines
        + f"    steps:\n      - id: s\n        type: check_items\n        inputs: {inputs}\n"
    )


def test_a_job_without_trigger_has_the_all_success_rule(tmp_path: Path) -> None:
    report, plan = check(tmp_path, _flow())

    assert report.ok and plan is not None
    assert [job.trigger for job in plan.jobs] == ["all_success", "all_success"]


def test_the_two_handler_rules_are_accepted(tmp_path: Path) -> None:
    for rule in ("all_done", "one_failed"):
        report, plan = check(tmp_path, _flow(f"    trigger: {rule}\n"))
        assert report.ok, report.errors
        assert plan is not None and plan.job("b").trigger == rule


def test_an_unknown_trigger_is_a_literal_error_listing_the_rules(tmp_path: Path) -> None:
    report, _ = check(tmp_path, _flow("    trigger: any_failed\n"))

    assert codes(report.errors) == ["schema:literal_error"]
    error = report.errors[0]
    assert error.loc == "jobs[1].trigger" and "'all_success', 'all_done' or 'one_failed'" in error.msg


def test_flow_timezone_is_kept_when_it_is_an_iana_name(tmp_path: Path) -> None:
    report, plan = check(tmp_path, _flow(flow_lines="  timezone: Europe/Berlin\n"))

    assert report.ok and plan is not None and plan.meta.timezone == "Europe/Berlin"


def test_flow_timezone_may_come_from_env(tmp_path: Path) -> None:
    report, plan = check(tmp_path, _flow(flow_lines='  timezone: "{{env.TZ_NAME}}"\n'), env={"TZ_NAME": "Asia/Tokyo"})

    assert report.ok and plan is not None and plan.meta.timezone == "Asia/Tokyo"


def test_an_unknown_flow_timezone_is_one_error_at_its_line(tmp_path: Path) -> None:
    report, plan = check(tmp_path, _flow(flow_lines="  timezone: Europe/Atlantis\n"))

    assert plan is None
    assert [(e.code, e.loc, e.line) for e in report.errors] == [("schema:value_error", "flow.timezone", 4)]
    assert "unknown time zone 'Europe/Atlantis'" in report.errors[0].msg


def test_without_flow_timezone_the_setting_is_the_default_and_else_utc(tmp_path: Path) -> None:
    _, plain = check(tmp_path, _flow())
    _, configured = check(tmp_path, _flow(), settings=Settings(timezone="America/Chicago"))

    assert plain is not None and plain.meta.timezone == "UTC"
    assert configured is not None and configured.meta.timezone == "America/Chicago"


def test_an_unknown_timezone_setting_in_use_is_a_settings_error(tmp_path: Path) -> None:
    report, _ = check(tmp_path, _flow(), settings=Settings(timezone="Nowhere/Land"))

    assert [(e.code, e.loc) for e in report.errors] == [("settings:invalid", "AETHERFLOW_TIMEZONE")]


def test_the_run_root_is_allowed_in_step_inputs(tmp_path: Path) -> None:
    inputs = '{items: ["{{run.id}}", "{{run.attempt}}", "d={{run.date}}", "{{run.scheduled_at}}"]}'
    report, _ = check(tmp_path, _flow(inputs=inputs))

    assert report.ok, report.errors


def test_an_unknown_run_key_in_a_template_is_an_unknown_reference_with_a_suggestion(tmp_path: Path) -> None:
    report, _ = check(tmp_path, _flow(inputs='{items: ["{{run.scheduled:x}}"]}'))

    assert codes(report.errors) == ["template:unknown_reference"]
    assert "run.scheduled (did you mean 'run.scheduled_at'?)" in report.errors[0].msg


def test_an_unknown_run_key_in_when_is_an_invalid_when(tmp_path: Path) -> None:
    report, _ = check(tmp_path, _flow("    when: \"run.day == 'x'\"\n"))

    assert codes(report.errors) == ["semantic:invalid_when"]
