"""The `helm test` hook: a Job running `aetherflow validate` on every mounted flow, with the runner's mounts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.chart.rendering import (
    CHART,
    VALUES_CASES,
    case_id,
    cronjobs,
    env_of,
    of_kind,
    pod_spec,
    rendered,
    runner,
    template,
    write_values,
)

FLOWS_DIR = "/etc/aetherflow/flows"
#: env the chart sets per schedule item; the test hook validates every flow, so it has none of them
ITEM_ENV = {
    "AETHERFLOW_FLOW_FILE",
    "AETHERFLOW_FLOW_JOB",
    "AETHERFLOW_BUNDLE_MANIFEST",
    "AETHERFLOW_ALLOW_STALE_BUNDLE",
    "AETHERFLOW_SCHEDULE_NAME",
    "AETHERFLOW_TIMEZONE",
}


def _hook(objects: Any) -> dict[str, Any]:
    (hook,) = [j for j in of_kind(objects, "Job") if j["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"]
    return hook


def _script(hook: dict[str, Any]) -> str:
    (container,) = hook["spec"]["template"]["spec"]["containers"]
    command = container["command"]
    assert command[:2] == ["sh", "-c"]
    return str(command[2])


def _tests_enabled(values: Path | None) -> bool:
    doc = yaml.safe_load((values or CHART / "values.yaml").read_text(encoding="utf-8")) or {}
    return bool(doc.get("tests", {}).get("enabled", True))


@pytest.mark.parametrize("values", [v for v in VALUES_CASES if _tests_enabled(v)], ids=case_id)
def test_hook_has_the_runner_mounts_settings_and_security(values: Path | None) -> None:
    objects = rendered(values)
    hook = _hook(objects)
    pod = hook["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    cj = cronjobs(objects)[0]
    run = runner(cj)
    assert hook["spec"]["backoffLimit"] == 0
    assert {m["mountPath"] for m in container["volumeMounts"]} == {m["mountPath"] for m in run["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["data"] == {"name": "data", "emptyDir": {}}  # validate creates no state: no claim to wait for
    runner_volumes = {v["name"]: v for v in pod_spec(cj)["volumes"]}
    assert {k: v for k, v in volumes.items() if k != "data"} == {k: v for k, v in runner_volumes.items() if k != "data"}
    item_env = ITEM_ENV | {e["name"] for e in run["env"] if not e["name"].startswith("AETHERFLOW_")}
    expected_env = {k: v for k, v in env_of(run).items() if k not in item_env}
    assert {k: v for k, v in env_of(container).items() if k in expected_env} == expected_env
    assert container["securityContext"] == run["securityContext"]
    assert pod["securityContext"] == pod_spec(cj)["securityContext"]
    assert pod["automountServiceAccountToken"] is False
    assert container["image"] == run["image"]


def test_hook_can_be_turned_off(tmp_path: Path) -> None:
    objects = template(write_values(tmp_path, {"tests": {"enabled": False}}))
    assert of_kind(objects, "Job") == []


def _run_script(script: str, flows: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}", "HOME": str(flows)}
    return subprocess.run(
        ["sh", "-c", script.replace(FLOWS_DIR, str(flows))],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
    )


@pytest.fixture(scope="module")
def script() -> str:
    return _script(_hook(rendered(CHART / "ci" / "full-values.yaml")))


def test_hook_script_validates_every_flow_and_passes_when_all_are_valid(tmp_path: Path, script: str) -> None:
    flows = _hook_flows(tmp_path)
    proc = _run_script(script, flows)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("OK: ") == 2


def test_hook_script_fails_when_one_flow_is_invalid(tmp_path: Path, script: str) -> None:
    flows = _hook_flows(tmp_path)
    (flows / "broken.yaml").write_text("version: 1\nflow: {id: broken}\njobs: [{id: a, steps: [{id: s}]}]\n")
    proc = _run_script(script, flows)
    assert proc.returncode == 1
    assert "OK: " in proc.stdout and "INVALID: " in proc.stdout


def test_hook_script_fails_when_no_flow_is_mounted(tmp_path: Path, script: str) -> None:
    proc = _run_script(script, tmp_path)
    assert proc.returncode == 1
    assert "no flow file mounted" in proc.stderr


def _hook_flows(tmp_path: Path) -> Path:
    (flows_cm,) = [c for c in of_kind(rendered(None), "ConfigMap") if c["metadata"]["name"].endswith("-flows")]
    (e2e_cm,) = [
        c
        for c in of_kind(rendered(CHART / "ci" / "e2e-values.yaml"), "ConfigMap")
        if c["metadata"]["name"].endswith("-flows")
    ]
    flows = tmp_path / "flows"
    flows.mkdir()
    for name, text in {**flows_cm["data"], **e2e_cm["data"]}.items():
        (flows / name).write_text(text, encoding="utf-8")
    (flows / "..data").mkdir()  # what a ConfigMap mount also holds: not a flow file
    return flows
