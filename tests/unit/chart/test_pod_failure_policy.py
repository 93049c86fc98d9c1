"""The rendered podFailurePolicy is the CLI's exit-code table (aetherflow.errors is its single source)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aetherflow.errors import FAIL_JOB_EXIT_CODES, ExitCode
from tests.unit.chart.rendering import VALUES_CASES, case_id, cronjobs, env_values, rendered, runner, write_values


def _policies(values: Path | None) -> list[tuple[str, dict[str, Any]]]:
    return [
        (cj["metadata"]["name"], cj["spec"]["jobTemplate"]["spec"]["podFailurePolicy"])
        for cj in cronjobs(rendered(values))
    ]


def _fail_job_codes(cronjob: dict[str, Any]) -> list[int]:
    policy = cronjob["spec"]["jobTemplate"]["spec"]["podFailurePolicy"]
    fail_job = [r for r in policy["rules"] if r["action"] == "FailJob"]
    assert len(fail_job) == 1
    assert fail_job[0]["onExitCodes"]["operator"] == "In"
    codes: list[int] = fail_job[0]["onExitCodes"]["values"]
    return codes


@pytest.mark.parametrize("values", VALUES_CASES, ids=case_id)
def test_fail_job_exit_codes_are_the_cli_codes_retrying_cannot_help_plus_the_overlap_code_when_it_is_75(
    values: Path | None,
) -> None:
    for cj in cronjobs(rendered(values)):
        overlap = int(env_values(runner(cj))["AETHERFLOW_OVERLAP_EXIT_CODE"])
        expected = sorted({int(c) for c in FAIL_JOB_EXIT_CODES} | ({overlap} - {int(ExitCode.OK)}))
        assert _fail_job_codes(cj) == expected, cj["metadata"]["name"]


def test_fail_job_codes_are_invalid_input_and_permanent_failure() -> None:
    assert set(FAIL_JOB_EXIT_CODES) == {ExitCode.INVALID, ExitCode.PERMANENT}


def test_by_default_an_overlap_completes_the_job_and_only_invalid_input_or_a_permanent_failure_fails_it() -> None:
    for cj in cronjobs(rendered(None)):
        assert env_values(runner(cj))["AETHERFLOW_OVERLAP_EXIT_CODE"] == "0"
        assert _fail_job_codes(cj) == [int(ExitCode.INVALID), int(ExitCode.PERMANENT)]


def test_an_overlap_code_of_75_fails_the_job_at_once(tmp_path: Path) -> None:
    for cj in cronjobs(rendered(write_values(tmp_path, {"overlapExitCode": 75}))):
        assert env_values(runner(cj))["AETHERFLOW_OVERLAP_EXIT_CODE"] == "75"
        assert _fail_job_codes(cj) == [int(ExitCode.INVALID), int(ExitCode.PERMANENT), int(ExitCode.OVERLAP)]


@pytest.mark.parametrize("values", VALUES_CASES, ids=case_id)
def test_disruptions_are_ignored_first_and_every_other_nonzero_exit_counts(values: Path | None) -> None:
    for name, policy in _policies(values):
        rules = policy["rules"]
        assert [r["action"] for r in rules] == ["Ignore", "FailJob", "Count"], name
        assert rules[0]["onPodConditions"] == [{"type": "DisruptionTarget", "status": "True"}]
        count = rules[2]["onExitCodes"]
        assert (count["operator"], count["values"]) == ("NotIn", [int(ExitCode.OK)])


@pytest.mark.parametrize("values", VALUES_CASES, ids=case_id)
def test_exit_code_rules_name_the_runner_container(values: Path | None) -> None:
    for cj in cronjobs(rendered(values)):
        policy = cj["spec"]["jobTemplate"]["spec"]["podFailurePolicy"]
        for rule in policy["rules"]:
            if "onExitCodes" in rule:
                assert rule["onExitCodes"]["containerName"] == runner(cj)["name"]


@pytest.mark.parametrize("values", VALUES_CASES, ids=case_id)
def test_a_failed_pod_is_replaced_only_after_it_terminated_and_never_restarted_in_place(values: Path | None) -> None:
    # podFailurePolicy requires restartPolicy Never; podReplacementPolicy Failed keeps one pod per run at a time.
    for cj in cronjobs(rendered(values)):
        job = cj["spec"]["jobTemplate"]["spec"]
        assert job["podReplacementPolicy"] == "Failed"
        assert job["template"]["spec"]["restartPolicy"] == "Never"
