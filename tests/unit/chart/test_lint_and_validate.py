"""`helm lint --strict` and Kubernetes API schema validation of every rendered object, for every values case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.chart.rendering import ROOT, VALUES_CASES, case_id, lint, rendered

#: oldest supported (Chart.yaml kubeVersion) and a current release
KUBERNETES_VERSIONS = ("1.29.0", "1.33.0")
#: kinds of operator CRDs the chart may render, which the Kubernetes API schemas do not know
CUSTOM_RESOURCES = frozenset({"PrometheusRule"})


@pytest.mark.parametrize("values", VALUES_CASES, ids=case_id)
def test_chart_passes_helm_lint_strict(values: Path | None) -> None:
    result = lint(values)
    assert result.ok, result.output
    assert "[WARNING]" not in result.output and "[ERROR]" not in result.output, result.output


def _validate(obj: dict[str, Any], version: str) -> None:
    import kubernetes_validate

    # Any exception counts: schema errors, and also an unknown kind/apiVersion or Kubernetes version, which the
    # command line would only report as a warning.
    kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("values", VALUES_CASES, ids=case_id)
def test_every_rendered_object_is_valid_for_the_kubernetes_api(values: Path | None, version: str) -> None:
    objects = rendered(values)
    assert any(o["kind"] == "CronJob" for o in objects)
    for obj in objects:
        if obj["kind"] in CUSTOM_RESOURCES:
            continue  # not a Kubernetes API kind: checked by its own tests (test_prometheus_rule.py)
        try:
            _validate(obj, version)
        except Exception as exc:
            pytest.fail(
                f"{obj['kind']} {obj['metadata']['name']} invalid for Kubernetes {version}: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
            )


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_plain_manifest_is_valid_for_the_kubernetes_api(version: str) -> None:
    import yaml

    files = sorted((ROOT / "manifests").glob("*.yaml"))
    objects = [
        (f.name, doc)
        for f in files
        if f.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(f.read_text(encoding="utf-8"))
        if doc
    ]
    assert {o["kind"] for _, o in objects} >= {
        "Namespace",
        "ConfigMap",
        "Secret",
        "PersistentVolumeClaim",
        "CronJob",
        "Deployment",
        "Service",
        "ServiceAccount",
    }
    for name, obj in objects:
        try:
            _validate(obj, version)
        except Exception as exc:
            pytest.fail(
                f"manifests/{name}: {obj['kind']} {obj['metadata']['name']} invalid for Kubernetes "
                f"{version}: {type(exc).__name__}: {str(exc).splitlines()[0]}"
            )
