"""The GitHub workflows and the kind config: schema-valid, and consistent with the chart's e2e values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.unit.chart.rendering import CHART, ROOT

WORKFLOWS = ROOT / ".github" / "workflows"


def _load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def _runs(workflow: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"])


def _uses(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job["steps"] if "uses" in step]


def test_workflows_match_the_github_workflow_schema() -> None:
    files = sorted(WORKFLOWS.glob("*.yaml"))
    assert {f.name for f in files} >= {"ci.yaml", "e2e.yaml"}
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ci_runs_lint_type_check_tests_chart_checks_and_the_image_build() -> None:
    runs = _runs(_load(WORKFLOWS / "ci.yaml"))
    for command in (
        "make check",
        "bash .ci/run",
        "make chart",
        "render_manifests.py --check",
        "ct lint --config",
        "docker build",
    ):
        assert command in runs, command
    ci_run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci_run
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("check:", "test:", "chart:", "e2e:", "install:"):
        assert f"\n{target}" in makefile, target


def test_ct_lints_the_chart_directory() -> None:
    config = _load(ROOT / ".github" / "ct.yaml")
    assert config["charts"] == ["helm/aetherflow"]
    assert (ROOT / config["charts"][0] / "Chart.yaml").is_file()


def test_e2e_loads_the_image_tag_the_e2e_values_install() -> None:
    workflow = _load(WORKFLOWS / "e2e.yaml")
    values = _load(CHART / "ci" / "e2e-values.yaml")
    image = f"{values['image']['repository']}:{values['image']['tag']}"
    assert workflow["env"]["IMAGE"] == image
    assert values["image"]["pullPolicy"] == "Never"  # the image only exists inside kind
    runs = _runs(workflow)
    assert 'docker build --tag "$IMAGE"' in runs
    assert 'kind load docker-image "$IMAGE"' in runs
    assert "-f helm/aetherflow/ci/e2e-values.yaml" in runs
    assert "make e2e" in runs
    assert "pytest -q -m e2e tests/e2e" in (ROOT / "Makefile").read_text(encoding="utf-8")


def test_e2e_creates_the_cluster_from_the_kind_config() -> None:
    workflow = _load(WORKFLOWS / "e2e.yaml")
    (kind,) = [s for s in _uses(workflow) if s["uses"].startswith("helm/kind-action@")]
    assert kind["with"]["config"] == "kind-config.yaml"
    config = _load(ROOT / "kind-config.yaml")
    assert (config["kind"], config["apiVersion"]) == ("Cluster", "kind.x-k8s.io/v1alpha4")
    assert [n["role"] for n in config["nodes"]] == ["control-plane", "worker", "worker"]
    assert config["name"] == workflow["env"]["CLUSTER"]
    assert kind["with"]["node_image"] == "${{ matrix.node_image }}"


def test_e2e_covers_the_charts_oldest_kubernetes_and_the_newest() -> None:
    workflow = _load(WORKFLOWS / "e2e.yaml")
    (job,) = workflow["jobs"].values()
    images = job["strategy"]["matrix"]["node_image"]
    versions = [image.rsplit(":v", 1)[1] for image in images]
    floor = _load(CHART / "Chart.yaml")["kubeVersion"]
    assert versions[0].startswith("1.29"), (versions, floor)
    assert max(tuple(map(int, v.split("."))) for v in versions) >= (1, 33)


def test_e2e_upgrades_from_the_previous_chart_and_runs_ct_install_in_a_restricted_namespace() -> None:
    runs = _runs(_load(WORKFLOWS / "e2e.yaml"))
    assert "helm upgrade" in runs and "git merge-base" in runs
    assert "ct install" in runs
    assert "pod-security.kubernetes.io/enforce=restricted" in runs


def test_release_builds_a_multi_arch_signed_image_with_an_sbom_and_pushes_the_chart() -> None:
    workflow = _load(WORKFLOWS / "release.yaml")
    triggers = workflow.get("on") or workflow.get(True)
    assert triggers["push"]["tags"] == ["v*"]
    uses = [step["uses"].split("@")[0] for step in _uses(workflow)]
    for action in (
        "docker/setup-qemu-action",
        "docker/build-push-action",
        "sigstore/cosign-installer",
        "anchore/sbom-action",
        "aquasecurity/trivy-action",
    ):
        assert action in uses, action
    runs = _runs(workflow)
    assert "linux/amd64,linux/arm64" in yaml.safe_dump(workflow)
    assert "cosign sign" in runs and "helm push" in runs


def test_an_update_bot_watches_actions_pip_and_the_base_image() -> None:
    config = _load(ROOT / ".github" / "dependabot.yml")
    ecosystems = {u["package-ecosystem"] for u in config["updates"]}
    assert ecosystems >= {"github-actions", "pip", "docker"}
    checker = str(Path(sys.executable).parent / "check-jsonschema")
    path = str(ROOT / ".github" / "dependabot.yml")
    proc = subprocess.run(
        [checker, "--builtin-schema", "vendor.dependabot", path], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_e2e_names_match_the_chart_install() -> None:
    workflow = _load(WORKFLOWS / "e2e.yaml")
    values = _load(CHART / "ci" / "e2e-values.yaml")
    (test_step,) = [s for j in workflow["jobs"].values() for s in j["steps"] if s.get("name") == "End-to-end tests"]
    env = test_step["env"]
    (schedule,) = values["schedules"]
    assert env["E2E_CRONJOB"] == f"{values['fullnameOverride']}-{schedule['id']}"
    assert schedule["suspend"] is True  # only the tests' own Jobs run the flow
    flow = yaml.safe_load(values["flows"][schedule["flow_yaml"]])
    assert env["E2E_FLOW_ID"] == flow["flow"]["id"]
    assert [j["id"] for j in flow["jobs"]] == ["prepare", "work"]
    assert env["E2E_NAMESPACE"] == "${{ env.NAMESPACE }}"
    namespace = workflow["env"]["NAMESPACE"]
    assert values["pushgateway"]["url"] == (
        f"http://{env['E2E_PUSHGATEWAY_SERVICE']}.{namespace}.svc:{env['E2E_PUSHGATEWAY_PORT']}"
    )
    assert env["E2E_REQUIRED"] == "1"
    for manifest in ("namespace.yaml", "pushgateway.yaml"):  # applied by the workflow before the chart
        for obj in yaml.safe_load_all((ROOT / "manifests" / manifest).read_text(encoding="utf-8")):
            assert obj["metadata"].get("namespace", obj["metadata"]["name"]) == namespace, manifest
