"""Every flow the chart ships (defaults and ci values files) passes `aetherflow validate`, as `helm test` runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.unit.chart.rendering import CHART, ROOT, VALUES_CASES, case_id


def _flows(values: Path | None) -> dict[str, str]:
    doc = yaml.safe_load((values or CHART / "values.yaml").read_text(encoding="utf-8")) or {}
    return dict(doc.get("flows") or {})


CASES = [(values, name) for values in VALUES_CASES for name in _flows(values)]


@pytest.mark.parametrize(("values", "name"), CASES, ids=[f"{case_id(v)}:{n}" for v, n in CASES])
def test_shipped_flow_passes_aetherflow_validate(tmp_path: Path, values: Path | None, name: str) -> None:
    flow = tmp_path / name
    flow.write_text(_flows(values)[name], encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "aetherflow", "validate", "--flow-yaml", str(flow)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"OK: {flow}")


def test_chart_default_flow_is_the_minimal_example() -> None:
    example = yaml.safe_load((ROOT / "examples" / "flows" / "minimal.yaml").read_text(encoding="utf-8"))
    assert yaml.safe_load(_flows(None)["minimal.yaml"]) == example
