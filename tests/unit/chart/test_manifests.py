"""manifests/ is generated from the chart (scripts/render_manifests.py) and must not drift from it."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.unit.chart.rendering import ROOT, kubectl

MANIFESTS = ROOT / "manifests"


def _objects(directory: Path) -> dict[str, list[dict[str, Any]]]:
    return {
        f.name: [d for d in yaml.safe_load_all(f.read_text(encoding="utf-8")) if d]
        for f in sorted(directory.glob("*.yaml"))
    }


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("manifests")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "render_manifests.py"), "--output", str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return out


def test_manifests_equal_a_fresh_render_of_the_chart(regenerated: Path) -> None:
    committed = sorted(p.name for p in MANIFESTS.glob("*.yaml"))
    fresh = sorted(p.name for p in regenerated.glob("*.yaml"))
    assert committed == fresh
    _, mismatch, errors = filecmp.cmpfiles(MANIFESTS, regenerated, fresh, shallow=False)
    assert (mismatch, errors) == ([], []), "manifests/ is stale: run python scripts/render_manifests.py"


def test_check_mode_reports_a_stale_file(tmp_path: Path, regenerated: Path) -> None:
    for src in regenerated.glob("*.yaml"):
        (tmp_path / src.name).write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "cronjob.yaml").write_text("# edited by hand\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "render_manifests.py"), "--check", "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "cronjob.yaml" in proc.stderr


def test_manifests_hold_the_namespace_example_flow_secret_claim_cronjob_and_pushgateway() -> None:
    kinds = {name: [o["kind"] for o in objs] for name, objs in _objects(MANIFESTS).items()}
    assert kinds == {
        "configmap-flows.yaml": ["ConfigMap"],
        "cronjob.yaml": ["CronJob"],
        "kustomization.yaml": ["Kustomization"],
        "namespace.yaml": ["Namespace"],
        "pushgateway.yaml": ["Deployment", "Service"],
        "pvc.yaml": ["PersistentVolumeClaim"],
        "secret-profiles.yaml": ["Secret"],
        "serviceaccount.yaml": ["ServiceAccount"],
    }


def test_no_helm_release_labels_in_plain_manifests() -> None:
    text = "".join(p.read_text(encoding="utf-8") for p in MANIFESTS.glob("*.yaml"))
    assert "helm.sh/chart" not in text and "managed-by: Helm" not in text


def test_kustomization_builds_every_manifest() -> None:
    proc = kubectl("kustomize", str(MANIFESTS))
    assert proc.returncode == 0, proc.stderr
    built = {(o["kind"], o["metadata"]["name"]) for o in yaml.safe_load_all(proc.stdout) if o}
    files = {
        (o["kind"], o["metadata"]["name"])
        for name, objs in _objects(MANIFESTS).items()
        if name != "kustomization.yaml"
        for o in objs
    }
    assert built == files


def test_cronjob_pushes_to_the_pushgateway_service_of_the_manifests() -> None:
    objects = [o for objs in _objects(MANIFESTS).values() for o in objs]
    (cronjob,) = [o for o in objects if o["kind"] == "CronJob"]
    service = next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "pushgateway")
    container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    url = urlsplit(next(e["value"] for e in container["env"] if e["name"] == "AETHERFLOW_PUSHGATEWAY_URL"))
    assert url.hostname == service["metadata"]["name"]
    assert url.port == service["spec"]["ports"][0]["port"]


def test_example_flow_of_the_manifests_is_the_chart_default() -> None:
    chart_values = yaml.safe_load((ROOT / "helm" / "aetherflow" / "values.yaml").read_text(encoding="utf-8"))
    (flows,) = _objects(MANIFESTS)["configmap-flows.yaml"]
    assert flows["data"] == chart_values["flows"]
