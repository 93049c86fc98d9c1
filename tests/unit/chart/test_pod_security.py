"""Every pod the chart and the plain manifests run meets the restricted Pod Security Standard, so they start in a
namespace that enforces it (the manifests' Namespace does, and so does the kind e2e)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.chart.rendering import ROOT, VALUES_CASES, case_id, rendered

ALLOWED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def _pod_specs(objects: Any) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for obj in objects:
        kind, name = obj.get("kind"), obj.get("metadata", {}).get("name")
        if kind == "CronJob":
            out.append((name, obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
        elif kind in ("Job", "Deployment"):
            out.append((name, obj["spec"]["template"]["spec"]))
    return out


def restricted_violations(spec: dict[str, Any]) -> list[str]:
    """What the restricted profile (Kubernetes Pod Security Standards, latest) refuses in one pod spec."""
    problems: list[str] = []
    pod_ctx = spec.get("securityContext", {})
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            problems.append(flag)
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUMES:
            problems.append(f"volume {volume['name']}: {sorted(kinds)}")
    pod_seccomp = pod_ctx.get("seccompProfile", {}).get("type")
    for container in [*spec.get("initContainers", []), *spec["containers"]]:
        ctx = container.get("securityContext", {})
        where = f"container {container['name']}"
        if ctx.get("privileged"):
            problems.append(f"{where}: privileged")
        if ctx.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation must be false")
        if "ALL" not in ctx.get("capabilities", {}).get("drop", []):
            problems.append(f"{where}: capabilities must drop ALL")
        if set(ctx.get("capabilities", {}).get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{where}: adds capabilities")
        if not ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot", False)):
            problems.append(f"{where}: runAsNonRoot must be true")
        if ctx.get("runAsUser", pod_ctx.get("runAsUser")) == 0:
            problems.append(f"{where}: runAsUser 0")
        if ctx.get("seccompProfile", {}).get("type", pod_seccomp) not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{where}: seccompProfile must be RuntimeDefault or Localhost")
        for port in container.get("ports", []):
            if port.get("hostPort"):
                problems.append(f"{where}: hostPort")
    return problems


@pytest.mark.parametrize("values", VALUES_CASES, ids=case_id)
def test_every_pod_of_the_chart_is_allowed_by_the_restricted_profile(values: Path | None) -> None:
    specs = _pod_specs(rendered(values))
    assert specs
    for name, spec in specs:
        assert restricted_violations(spec) == [], name


def test_every_pod_of_the_plain_manifests_is_allowed_by_the_restricted_profile() -> None:
    objects = [
        doc
        for f in sorted((ROOT / "manifests").glob("*.yaml"))
        for doc in yaml.safe_load_all(f.read_text(encoding="utf-8"))
        if doc
    ]
    specs = _pod_specs(objects)
    assert {name for name, _ in specs} >= {"pushgateway"}
    for name, spec in specs:
        assert restricted_violations(spec) == [], name


def test_the_manifests_namespace_enforces_the_restricted_profile() -> None:
    (namespace,) = yaml.safe_load_all((ROOT / "manifests" / "namespace.yaml").read_text(encoding="utf-8"))
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_checker_refuses_a_pod_that_may_escalate() -> None:
    spec = {"containers": [{"name": "c", "securityContext": {"runAsNonRoot": True}}]}
    assert restricted_violations(spec)  # no seccomp, escalation allowed, capabilities kept
