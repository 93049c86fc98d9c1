"""The CronJob's pod is the container contract: the mounts and the AETHERFLOW_* settings the runner reads.

Mount points are compared with the container defaults in aetherflow.settings (CONTAINER_*), env names with the
Settings fields, and the literal env with what load_settings accepts, so a renamed setting or a typo in the chart
fails here and not in a cluster.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from aetherflow import settings as af_settings
from aetherflow.settings import Settings, load_settings
from tests.unit.chart.rendering import (
    CHART,
    VALUES_CASES,
    case_id,
    cronjobs,
    env_of,
    env_values,
    of_kind,
    pod_spec,
    rendered,
    runner,
    template,
    write_values,
)

FLOWS_DIR = str(PurePosixPath(af_settings.CONTAINER_FLOW_FILE).parent)
PROFILES_DIR = str(PurePosixPath(af_settings.CONTAINER_PROFILES_FILE).parent)
DATA_DIR = os.path.commonpath([af_settings.CONTAINER_STATE_DIR, af_settings.CONTAINER_WORK_ROOT])
# container.md §3 (no setting of their own: wired through AETHERFLOW_ENV_FILES / AETHERFLOW_BUNDLE_MANIFEST)
ENV_DIR = "/etc/aetherflow/env"
BUNDLE_DIR = "/etc/aetherflow/bundle"
SETTING_NAMES = {f"{af_settings.PREFIX}{name.upper()}" for name in Settings.model_fields}
DOWNWARD_API = {
    "AETHERFLOW_JOB_NAME": "metadata.labels['batch.kubernetes.io/job-name']",
    "AETHERFLOW_JOB_UID": "metadata.labels['batch.kubernetes.io/controller-uid']",
    "AETHERFLOW_POD_NAME": "metadata.name",
    "AETHERFLOW_NAMESPACE": "metadata.namespace",
}


def _mounts(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["mountPath"]: m for m in container["volumeMounts"]}


def _volume(cj: dict[str, Any], name: str) -> dict[str, Any]:
    return next(v for v in pod_spec(cj)["volumes"] if v["name"] == name)


def _values(values: Path | None) -> dict[str, Any]:
    import yaml

    doc = yaml.safe_load((values or CHART / "values.yaml").read_text(encoding="utf-8")) or {}
    return dict(doc)


def _expected_mounts(values: Path | None) -> set[str]:
    """Mount paths the values ask for, per container.md §3."""
    doc = _values(values)
    expected = {FLOWS_DIR, DATA_DIR, "/tmp"} | {m["mountPath"] for m in doc.get("extraVolumeMounts", [])}
    if doc.get("profiles") or doc.get("profilesExistingSecret"):
        expected.add(PROFILES_DIR)
    if doc.get("envFiles") or doc.get("envFilesExistingSecret"):
        expected.add(ENV_DIR)
    if doc.get("bundleManifests") or doc.get("bundleManifestsExistingConfigMap"):
        expected.add(BUNDLE_DIR)
    return expected


def test_data_volume_holds_both_the_state_dir_and_the_work_root() -> None:
    assert DATA_DIR == "/var/lib/aetherflow"
    assert PurePosixPath(af_settings.CONTAINER_STATE_DIR).parent == PurePosixPath(DATA_DIR)
    assert PurePosixPath(af_settings.CONTAINER_WORK_ROOT).parent == PurePosixPath(DATA_DIR)


@pytest.mark.parametrize("values", VALUES_CASES, ids=case_id)
def test_runner_mounts_exactly_the_contract_paths(values: Path | None) -> None:
    for cj in cronjobs(rendered(values)):
        container = runner(cj)
        mounts = _mounts(container)
        env = env_of(container)
        assert set(mounts) == _expected_mounts(values), cj["metadata"]["name"]
        # profiles and env files are wired through their settings exactly when they are mounted
        assert ("AETHERFLOW_PROFILES_FILE" in env) == (PROFILES_DIR in mounts)
        assert ("AETHERFLOW_ENV_FILES" in env) == (ENV_DIR in mounts)
        for path in (FLOWS_DIR, PROFILES_DIR, ENV_DIR, BUNDLE_DIR):
            if path in mounts:
                assert mounts[path].get("readOnly") is True, path
        assert mounts[DATA_DIR].get("readOnly") is not True
        assert "configMap" in _volume(cj, mounts[FLOWS_DIR]["name"])
        assert "emptyDir" in _volume(cj, mounts["/tmp"]["name"])
        if PROFILES_DIR in mounts:
            assert "secret" in _volume(cj, mounts[PROFILES_DIR]["name"])
        if ENV_DIR in mounts:
            assert "secret" in _volume(cj, mounts[ENV_DIR]["name"])


@pytest.mark.parametrize("values", VALUES_CASES, ids=case_id)
def test_every_aetherflow_variable_the_chart_sets_is_a_setting(values: Path | None) -> None:
    for obj in rendered(values):
        if obj["kind"] not in ("CronJob", "Job"):
            continue
        spec = pod_spec(obj) if obj["kind"] == "CronJob" else obj["spec"]["template"]["spec"]
        for container in spec["containers"]:
            names = [e["name"] for e in container.get("env", [])]
            assert len(names) == len(set(names)), f"duplicate env names in {obj['metadata']['name']}: {names}"
            unknown = {n for n in names if n.startswith(af_settings.PREFIX)} - SETTING_NAMES
            assert not unknown, f"{obj['metadata']['name']} sets variables no setting reads: {sorted(unknown)}"


def test_default_values_set_exactly_the_flow_file_identity_grace_locks_logs_retention_and_schedule() -> None:
    (cj,) = cronjobs(rendered(None))
    assert set(env_of(runner(cj))) == {
        "AETHERFLOW_FLOW_FILE",
        *DOWNWARD_API,
        "AETHERFLOW_GRACE_SECONDS",
        "AETHERFLOW_LOCKS_SCOPE",
        "AETHERFLOW_LOG_FORMAT",
        "AETHERFLOW_LOG_LEVEL",
        "AETHERFLOW_OVERLAP_EXIT_CODE",
        "AETHERFLOW_STATE_RETENTION_DAYS",
        "AETHERFLOW_SCHEDULE_NAME",
        "AETHERFLOW_TIMEZONE",
    }


@pytest.mark.parametrize("values", VALUES_CASES, ids=case_id)
def test_job_identity_comes_from_the_downward_api(values: Path | None) -> None:
    for cj in cronjobs(rendered(values)):
        env = env_of(runner(cj))
        for name, field_path in DOWNWARD_API.items():
            assert env[name]["valueFrom"] == {"fieldRef": {"fieldPath": field_path}}, name


@pytest.mark.parametrize("values", VALUES_CASES, ids=case_id)
def test_rendered_settings_load_and_point_into_the_mounts(values: Path | None) -> None:
    for cj in cronjobs(rendered(values)):
        container = runner(cj)
        environ = {name: f"from-{name.lower()}" for name in DOWNWARD_API} | env_values(container)
        loaded = load_settings(environ)
        if loaded.flow_file is not None:
            assert PurePosixPath(loaded.flow_file).parent == PurePosixPath(FLOWS_DIR)
        if loaded.profiles_file is not None:
            assert loaded.profiles_file == af_settings.CONTAINER_PROFILES_FILE
        if loaded.bundle_manifest is not None:
            assert PurePosixPath(loaded.bundle_manifest).parent == PurePosixPath(BUNDLE_DIR)
        for spec in loaded.env_files:
            assert str(spec["path"]).startswith(ENV_DIR)
        # the chart leaves state and work to the container defaults, which live on the data volume
        assert loaded.state_path is None and loaded.work_root is None


@pytest.mark.parametrize("values", VALUES_CASES, ids=case_id)
def test_flow_file_of_each_schedule_is_a_key_of_the_flows_configmap(values: Path | None) -> None:
    objects = rendered(values)
    maps = {m["metadata"]["name"]: m for m in of_kind(objects, "ConfigMap")}
    for cj in cronjobs(objects):
        flow_file = env_values(runner(cj)).get("AETHERFLOW_FLOW_FILE")
        source = _volume(cj, "flows")["configMap"]["name"]
        if flow_file is None or source not in maps:
            continue  # bundle-only item, or flows from an existing ConfigMap
        assert PurePosixPath(flow_file).name in maps[source]["data"]


@pytest.mark.parametrize(("grace_period", "runner_grace"), [(90, 60), (120, 90), (35, 5), (20, 5), (1, 5)])
def test_runner_grace_is_the_termination_grace_minus_30_seconds_and_at_least_5(
    tmp_path: Path, grace_period: int, runner_grace: int
) -> None:
    values = write_values(tmp_path, {"job": {"terminationGracePeriodSeconds": grace_period}})
    (cj,) = cronjobs(template(values))
    assert pod_spec(cj)["terminationGracePeriodSeconds"] == grace_period
    env = env_values(runner(cj))
    assert env["AETHERFLOW_GRACE_SECONDS"] == str(runner_grace)
    assert load_settings(env).grace_seconds == runner_grace


@pytest.mark.parametrize("values", VALUES_CASES, ids=case_id)
def test_pods_run_non_root_with_a_read_only_root_and_no_privileges(values: Path | None) -> None:
    for cj in cronjobs(rendered(values)):
        pod = pod_spec(cj)
        # A token only for Kubernetes Events (test_production.py pins that case).
        assert pod["automountServiceAccountToken"] is ("AETHERFLOW_KUBERNETES_EVENTS" in env_values(runner(cj)))
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["securityContext"]["fsGroup"] == 1001
        sc = runner(cj)["securityContext"]
        assert sc["runAsNonRoot"] is True
        assert (sc["runAsUser"], sc["runAsGroup"]) == (1001, 1001)
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["privileged"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}


@pytest.mark.parametrize("values", VALUES_CASES, ids=case_id)
def test_service_account_has_no_api_token(values: Path | None) -> None:
    for sa in of_kind(rendered(values), "ServiceAccount"):
        assert sa["automountServiceAccountToken"] is False


def test_state_volume_is_a_read_write_once_claim_of_one_gibibyte_by_default() -> None:
    objects = rendered(None)
    (pvc,) = of_kind(objects, "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert pvc["spec"]["resources"]["requests"]["storage"] == "1Gi"
    (cj,) = cronjobs(objects)
    data = next(m for m in runner(cj)["volumeMounts"] if m["mountPath"] == DATA_DIR)
    assert _volume(cj, data["name"]) == {
        "name": data["name"],
        "persistentVolumeClaim": {"claimName": pvc["metadata"]["name"]},
    }
