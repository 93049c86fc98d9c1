"""values.schema.json rejects typos and out-of-contract values before anything is rendered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit.chart.rendering import CHART, HelmFailed, lint, template, write_values

ITEM = {"id": "x", "cron": "0 1 * * *", "flow_yaml": "minimal.yaml"}

REJECTED: dict[str, dict[str, Any]] = {
    "top-level typo": {"schedule": [ITEM]},
    "nested typo": {"persistence": {"sise": "2Gi"}},
    "schedule item typo": {"schedules": [{"id": "x", "cron": "0 1 * * *", "flow_yml": "minimal.yaml"}]},
    "pushgateway typo": {"pushgateway": {"urll": "http://pg:9091"}},
    "item without a flow or bundle": {"schedules": [{"id": "x", "cron": "0 1 * * *"}]},
    "item with flow and its alias": {"schedules": [{**ITEM, "flow": "minimal.yaml"}]},
    "item without cron": {"schedules": [{"id": "x", "flow_yaml": "minimal.yaml"}]},
    "CRON_TZ in cron": {"schedules": [{**ITEM, "cron": "CRON_TZ=UTC 0 1 * * *"}]},
    "six-field cron": {"schedules": [{**ITEM, "cron": "0 0 1 * * *"}]},
    "id with spaces": {"schedules": [{**ITEM, "id": "nightly sales"}]},
    "unknown lock scope": {"lockScope": "global"},
    "lower-case log level": {"logLevel": "info"},
    "string backoff": {"job": {"backoffLimit": "2"}},
    "negative misfire": {"schedules": [{**ITEM, "misfire_grace_time": -1}]},
    "item env with a list": {"schedules": [{**ITEM, "env": {"A": [1]}}]},
    "resources typo": {"resources": {"limit": {"memory": "1Gi"}}},
    "pushgateway url without scheme": {"pushgateway": {"url": "pushgateway:9091"}},
    "env file type": {"envFilesType": "json"},
    "numeric image tag (1.10 would render as 1.1)": {"image": {"tag": 1.10}},
    "overlap code other than 0 or 75": {"overlapExitCode": 1},
    "item deadline below one second": {"schedules": [{**ITEM, "activeDeadlineSeconds": 0}]},
    "prometheusRule typo": {"prometheusRule": {"enable": True}},
}


@pytest.mark.parametrize("overrides", REJECTED.values(), ids=list(REJECTED))
def test_helm_template_rejects(tmp_path: Path, overrides: dict[str, Any]) -> None:
    values = write_values(tmp_path, overrides)
    with pytest.raises(HelmFailed, match="schema"):
        template(values)


def test_helm_lint_strict_fails_on_a_typo_in_values(tmp_path: Path) -> None:
    result = lint(write_values(tmp_path, {"imagee": {"tag": "1.0.0"}}))
    assert not result.ok
    assert "imagee" in result.output


def test_the_error_names_the_misspelled_key(tmp_path: Path) -> None:
    with pytest.raises(HelmFailed) as info:
        template(write_values(tmp_path, {"persistence": {"sise": "2Gi"}}))
    assert "sise" in str(info.value)


def test_every_object_of_the_schema_is_closed() -> None:
    """additionalProperties: false wherever the chart owns the keys (Kubernetes pass-through objects excepted)."""
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    pass_through = {"global", "podSecurityContext", "containerSecurityContext", "affinity"}
    open_objects: list[str] = []

    def walk(node: dict[str, Any], path: str) -> None:
        if node.get("type") == "object" and "properties" in node and node.get("additionalProperties") is not False:
            open_objects.append(path)
        for key, child in node.get("properties", {}).items():
            if key not in pass_through:
                walk(child, f"{path}.{key}")
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[]")

    walk(schema, "$")
    assert schema["additionalProperties"] is False
    assert open_objects == []


def test_a_valid_scheduler_item_with_every_key_is_accepted(tmp_path: Path) -> None:
    item = {
        **ITEM,
        "flow_job": "check",
        "timezone": "Europe/Berlin",
        "misfire_grace_time": 60,
        "suspend": True,
        "resources": {"requests": {"cpu": "1"}},
        "env": {"AETHERFLOW_RUN_ID": "r1", "N": 3},
    }
    assert template(write_values(tmp_path, {"schedules": [item]}))
