"""The optional PrometheusRule: its alerts, per-schedule maximum age, and rules Prometheus accepts (promtool)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.chart.rendering import CHART, NAMESPACE, of_kind, rendered

MONITORING = CHART / "ci" / "monitoring-values.yaml"
ALERTS = {
    "AetherFlowRunFailed",
    "AetherFlowRunStuck",
    "AetherFlowPushesStale",
    "AetherFlowRepeatedOverlaps",
    "AetherFlowNoRecentSuccess",
    "AetherFlowNeverSucceeded",
}


def _rule() -> dict[str, Any]:
    (rule,) = of_kind(rendered(MONITORING), "PrometheusRule")
    return rule


def _alerts() -> list[dict[str, Any]]:
    return [r for group in _rule()["spec"]["groups"] for r in group["rules"]]


def test_no_rule_is_rendered_by_default() -> None:
    assert of_kind(rendered(None), "PrometheusRule") == []


def test_the_rule_is_a_prometheus_operator_object_with_the_users_labels() -> None:
    rule = _rule()
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["metadata"]["namespace"] == NAMESPACE


def test_every_alert_is_there_with_the_configured_severity() -> None:
    alerts = _alerts()
    assert {a["alert"] for a in alerts} == ALERTS
    assert {a["labels"]["severity"] for a in alerts} == {"critical"}


def test_no_success_alert_reads_the_last_success_metric_per_schedule_with_its_own_maximum_age() -> None:
    by_schedule = {a["labels"]["schedule"]: a["expr"] for a in _alerts() if a["alert"] == "AetherFlowNoRecentSuccess"}
    assert set(by_schedule) == {"aetherflow-nightly", "aetherflow-hourly"}
    assert "aetherflow_run_last_success_timestamp_seconds" in by_schedule["aetherflow-hourly"]
    assert by_schedule["aetherflow-hourly"].strip().endswith("> 10800")
    assert by_schedule["aetherflow-nightly"].strip().endswith("> 90000")


def test_every_expression_selects_this_namespaces_pushed_series() -> None:
    for alert in _alerts():
        assert 'job="aetherflow"' in alert["expr"] and f'namespace="{NAMESPACE}"' in alert["expr"], alert["alert"]


def test_promtool_accepts_the_rules(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package prometheus)")
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(_rule()["spec"]), encoding="utf-8")
    proc = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in proc.stdout
