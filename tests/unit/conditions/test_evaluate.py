"""Evaluating ``when`` against job statuses and outputs (spec execution.md §4.3)."""

from __future__ import annotations

from typing import Any

import pytest

from aetherflow.conditions import WhenEvaluationError, parse_when

JOBS: dict[str, Any] = {
    "a": {
        "status": "SUCCESS",
        "outputs": {
            "n": 3,
            "ratio": 0.5,
            "flag": True,
            "text": "true",
            "sentence": "a true and not null",
            "nothing": None,
            "empty": "",
            "items": [1, 2],
            "nested": {"deep": {"k": "v"}},
            "has": False,
        },
    },
    "s": {"status": "SKIPPED", "outputs": {}, "skip_reason": "condition=false", "skip_trigger": "when"},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("jobs.a.status == 'SUCCESS'", True, id="status-equality"),
        pytest.param("jobs.a.outputs.n >= 2 and jobs.a.status == 'SUCCESS'", True, id="spec-example-and"),
        pytest.param("not(jobs.a.outputs.has)", True, id="spec-example-not"),
        pytest.param("-1 < jobs.a.outputs.n", True, id="negative-literal"),
        pytest.param("false", False, id="false-literal"),
        pytest.param("TRUE", True, id="upper-case-true"),
        pytest.param("1 == 1.0", True, id="int-equals-float"),
        pytest.param("true == 1", True, id="bool-equals-int"),
        pytest.param("'true' == true", False, id="string-is-not-boolean"),
        pytest.param("jobs.a.outputs.text == true", False, id="string-output-is-not-boolean"),
        pytest.param("jobs.a.outputs.flag == True", True, id="boolean-output"),
        pytest.param("null == null", True, id="null-equals-null"),
        pytest.param("jobs.a.outputs.nothing == none", True, id="none-output-equals-null"),
        pytest.param("jobs.a.outputs.sentence == 'a true and not null'", True, id="string-literal-never-rewritten"),
        pytest.param('jobs.a.outputs.sentence != "a True and not None"', True, id="string-literal-case-kept"),
        pytest.param("jobs.a.outputs.nested.deep.k == 'v'", True, id="nested-mapping-reference"),
        pytest.param("jobs.a.outputs.items", True, id="non-empty-list-is-truthy"),
        pytest.param("jobs.a.outputs.empty", False, id="empty-string-is-falsy"),
        pytest.param("jobs.s.skip_trigger == 'when'", True, id="skip-trigger"),
        pytest.param("1 < 2 < 3", True, id="chain-all-true"),
        pytest.param("1 < 3 < 2", False, id="chain-second-false"),
        pytest.param("0.5 <= jobs.a.outputs.ratio < jobs.a.outputs.n", True, id="chain-with-references"),
        pytest.param("'abc' < 'abd'", True, id="string-order-by-code-point"),
        pytest.param("'Z' < 'a'", True, id="upper-before-lower"),
        pytest.param("true > 0", True, id="bool-orders-as-number"),
        pytest.param("1e3 == 1000", True, id="exponent-float"),
        pytest.param("not not jobs.a", True, id="double-not"),
    ],
)
def test_condition_evaluates_to(text: str, expected: bool) -> None:
    assert parse_when(text).evaluate(JOBS) is expected


def test_or_short_circuits_over_a_missing_reference() -> None:
    assert parse_when("true or jobs.never_ran.outputs.x").evaluate(JOBS) is True


def test_and_short_circuits_over_a_missing_reference() -> None:
    assert parse_when("jobs.a.status == 'FAILED' and jobs.never_ran.outputs.x").evaluate(JOBS) is False


def test_chained_comparison_stops_before_a_missing_reference() -> None:
    assert parse_when("3 < 2 < jobs.never_ran.outputs.x").evaluate(JOBS) is False


@pytest.mark.parametrize(
    ("text", "reference"),
    [
        pytest.param("jobs.b.status == 'SUCCESS'", "jobs.b.status", id="unknown-job"),
        pytest.param("jobs.a.outputs.x", "jobs.a.outputs.x", id="missing-output"),
        pytest.param("jobs.a.outputs.n.sub == 1", "jobs.a.outputs.n.sub", id="non-mapping-intermediate"),
        pytest.param("false or jobs.a.outputs.x", "jobs.a.outputs.x", id="reached-after-false-or"),
    ],
)
def test_missing_reference_is_an_evaluation_error_naming_the_whole_reference(text: str, reference: str) -> None:
    with pytest.raises(WhenEvaluationError) as caught:
        parse_when(text).evaluate(JOBS)

    assert caught.value.detail == f"'{reference}' is not defined"
    assert str(caught.value) == caught.value.detail


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        pytest.param("jobs.a.status > 1", "cannot compare str and int with '>'", id="str-int"),
        pytest.param("1.5 <= 'x'", "cannot compare float and str with '<='", id="float-str"),
        pytest.param("jobs.a.outputs.nothing < 1", "cannot compare NoneType and int with '<'", id="none-int"),
        pytest.param("jobs.a.outputs.items >= 1", "cannot compare list and int with '>='", id="list-int"),
        pytest.param(
            "jobs.a.outputs.nested > jobs.a.outputs.nested",
            "cannot compare dict and dict with '>'",
            id="dict-dict",
        ),
        pytest.param("true < 'x'", "cannot compare bool and str with '<'", id="bool-str"),
        pytest.param("1 < 2 < 'x'", "cannot compare int and str with '<'", id="second-link-of-chain"),
    ],
)
def test_ordering_incompatible_types_is_a_type_error(text: str, detail: str) -> None:
    with pytest.raises(WhenEvaluationError) as caught:
        parse_when(text).evaluate(JOBS)

    assert caught.value.detail == detail


def test_equality_between_any_types_is_never_a_type_error() -> None:
    assert parse_when("jobs.a.outputs.items != 'x'").evaluate(JOBS) is True


def test_result_is_a_bool_even_when_the_value_is_not() -> None:
    assert parse_when("jobs.a.outputs.n or false").evaluate(JOBS) is True


def test_evaluation_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_when("jobs.b").evaluate({})


def test_same_condition_evaluates_against_each_mapping_given() -> None:
    condition = parse_when("jobs.a.status == 'SUCCESS'")

    assert condition.evaluate({"a": {"status": "SUCCESS"}}) is True
    assert condition.evaluate({"a": {"status": "FAILED"}}) is False


RUN = {"id": "r-1", "attempt": 2, "scheduled_at": "2026-03-01T02:00:00Z", "date": "2026-03-01"}


def test_run_values_are_read_from_the_run_mapping() -> None:
    assert parse_when("run.attempt > 1 and run.date == '2026-03-01'").evaluate(JOBS, RUN)
    assert not parse_when("run.id == 'other'").evaluate(JOBS, RUN)


def test_a_run_value_missing_at_evaluation_is_a_missing_reference() -> None:
    with pytest.raises(WhenEvaluationError) as caught:
        parse_when("run.date == '2026-03-01'").evaluate(JOBS)

    assert caught.value.detail == "'run.date' is not defined"


def test_a_job_called_run_is_still_read_under_jobs() -> None:
    jobs = {"run": {"status": "SUCCESS", "outputs": {}}}

    assert parse_when("jobs.run.status == 'SUCCESS'").evaluate(jobs, RUN)
