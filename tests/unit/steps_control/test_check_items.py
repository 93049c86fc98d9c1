"""``check_items`` (spec steps.md §2): a gate on the number of items."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aetherflow.api import Status
from aetherflow.errors import is_permanent
from aetherflow.runner.context import StepRunContext
from tests.support.context import make_step_context, run_step


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[StepRunContext]:
    context, _events, pool = make_step_context(tmp_path, step_type="check_items")
    yield context
    pool.close_all()


def check(ctx: StepRunContext, **inputs: Any) -> Any:
    return run_step(ctx, "check_items", inputs)


def test_a_list_with_enough_items_succeeds_with_its_count(ctx: StepRunContext) -> None:
    result = check(ctx, items=["a", "b", "c"])
    assert result.status == Status.SUCCESS
    assert result.output == {"has_data": True, "count": 3}


def test_a_comma_separated_string_is_split_trimmed_and_empty_parts_dropped(ctx: StepRunContext) -> None:
    result = check(ctx, items=" a, b ,,c , ")
    assert result.output == {"has_data": True, "count": 3}


def test_fewer_items_than_min_count_is_skipped_with_the_spec_reason(ctx: StepRunContext) -> None:
    result = check(ctx, items=["a"], min_count=2)
    assert result.status == Status.SKIPPED
    assert result.reason == "count(1) < min_count(2)"
    assert result.output == {"has_data": False, "count": 1, "reason": "count(1) < min_count(2)"}


def test_an_empty_list_is_skipped_with_the_default_min_count_of_one(ctx: StepRunContext) -> None:
    result = check(ctx, items=[])
    assert result.status == Status.SKIPPED
    assert result.output == {"has_data": False, "count": 0, "reason": "count(0) < min_count(1)"}


def test_an_empty_string_counts_zero_items(ctx: StepRunContext) -> None:
    assert check(ctx, items=" , ,").output["count"] == 0


def test_min_count_given_as_text_is_accepted(ctx: StepRunContext) -> None:
    result = check(ctx, items="a,b", min_count="3")
    assert result.reason == "count(2) < min_count(3)"


def test_min_count_zero_lets_an_empty_list_succeed(ctx: StepRunContext) -> None:
    assert check(ctx, items=[], min_count=0).output == {"has_data": True, "count": 0}


@pytest.mark.parametrize("items", [{"a": 1}, 3, None, 2.5])
def test_any_other_type_of_items_fails_with_the_spec_message(ctx: StepRunContext, items: object) -> None:
    message = r"^check_items expects 'items' to be a list or a comma-separated string$"
    with pytest.raises(ValueError, match=message) as info:
        check(ctx, items=items)
    assert is_permanent(info.value)


def test_missing_items_is_reported_as_a_missing_input(ctx: StepRunContext) -> None:
    with pytest.raises(ValueError, match=r"^Step s1 missing inputs: \['items'\]$"):
        check(ctx, min_count=1)


def test_an_unknown_input_is_rejected(ctx: StepRunContext) -> None:
    with pytest.raises(ValueError, match="min_cnt"):
        check(ctx, items=["a"], min_cnt=1)
