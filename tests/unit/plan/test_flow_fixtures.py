"""The shared YAML fixtures in tests/flows: valid ones validate, invalid ones give exactly their ``# expect:`` records.

An invalid fixture lists its expected errors in order, one comment per record: ``# expect: <code> <loc> <line>``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aetherflow.plan import validate_flow
from aetherflow.registry import Registry
from aetherflow.settings import Settings

FLOWS = Path(__file__).resolve().parents[2] / "flows"
VALID = sorted((FLOWS / "valid").glob("*.yaml"))
INVALID = sorted((FLOWS / "invalid").glob("*.yaml"))


def _expected(path: Path) -> list[tuple[str, str, int]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# expect: "):
            code, loc, number = line.removeprefix("# expect: ").split()
            out.append((code, loc, int(number)))
    return out


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_fixture_has_no_error_and_no_warning(path: Path) -> None:
    report, plan = validate_flow(str(path), settings=Settings(), env={}, registry=Registry.builtin())

    assert report.errors == [] and report.warnings == []
    assert plan is not None


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_fixture_gives_exactly_its_expected_records(path: Path) -> None:
    expected = _expected(path)

    report, plan = validate_flow(str(path), settings=Settings(), env={}, registry=Registry.builtin())

    assert expected, f"{path.name} declares no '# expect:' line"
    assert plan is None
    assert [(i.code, i.loc, i.line) for i in report.errors] == expected
