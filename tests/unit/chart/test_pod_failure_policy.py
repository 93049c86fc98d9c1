"""The rendered podFailurePolicy is the CLI's exit-code table (aetherflow.errors is its single source)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aetherflow.errors import FAIL_JOB_EXIT_CODES, ExitCode
from tests.unit.chart.rendering import VALUES_CASES, case_id, cronjobs, rendered, runner


def _policies(values: Path | None) -> list[tuple[str, dict[str, Any]]]:
    return [
        (cj["metadata"]["name"], cj["spec"]["jobTemplate"]["spec"]["podFailurePolicy"])
        for cj in cronjobs(rendered(values))
    ]


@pytest.mark.parametrize("values", VALUES_CASES, ids=case_id)
def test_fail_job_exit_codes_are_exactly_the_cli_codes_retrying_cannot_help(values: Path | None) -> None:
    for name, policy in _policies(values):
        fail_job = [r for r in policy["rules"] if r["action"] == "FailJob"]
        assert len(fail_job) == 1, name
        codes = fail_job[0]["onExitCodes"]
        assert codes["operator"] == "In"
        assert codes["values"] == sorted(int(c) for c in FAIL_JOB_EXIT_CODES), name


def test_fail_job_codes_are_invalid_input_and_overlap() -> None:
    assert set(FAIL_JOB_EXIT_CODES) == {ExitCode.INVALID, ExitCode.OVERLAP}


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
