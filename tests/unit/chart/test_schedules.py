"""`schedules:` items become CronJobs the way the upstream scheduler file's items ran (spec container.md §8)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.chart.rendering import (
    CHART,
    HelmFailed,
    cronjobs,
    env_values,
    pod_spec,
    rendered,
    runner,
    template,
    write_values,
)

FULL = CHART / "ci" / "full-values.yaml"

#: an upstream aetherflow-scheduler file, pasted as is
UPSTREAM_SCHEDULER_YAML = """\
timezone: Europe/Berlin
items:
  - id: nightly-hello
    cron: "0 2 * * *"
    flow_yaml: flows/flow.yaml
    flow_job: main
    misfire_grace_time: 120
  - id: uc1_daily
    cron: "*/2 * * * *"
    bundle_manifest: "usecase1_sftp_to_smb_email/manifest_smb.yaml"
    allow_stale_bundle: true
  - id: weekly
    cron: "0 6 * * 1"
    flow_yaml: flow.yaml
    misfire_grace_time: 1
"""


def _by_name(objects: Any) -> dict[str, dict[str, Any]]:
    return {cj["metadata"]["name"]: cj for cj in cronjobs(objects)}


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    scheduler = yaml.safe_load(UPSTREAM_SCHEDULER_YAML)
    values = {
        "timezone": scheduler["timezone"],
        "schedules": scheduler["items"],
        "flows": {"flow.yaml": "version: 1\nflow: {id: hello}\njobs: []\n"},
        "bundleManifests": {"manifest_smb.yaml": "version: 1\n"},
    }
    return _by_name(template(write_values(tmp_path_factory.mktemp("migrated"), values)))


def test_a_pasted_scheduler_file_gives_one_cronjob_per_item(migrated: dict[str, dict[str, Any]]) -> None:
    assert sorted(migrated) == ["aetherflow-nightly-hello", "aetherflow-uc1-daily", "aetherflow-weekly"]
    assert {cj["metadata"]["labels"]["aetherflow.io/schedule"] for cj in migrated.values()} == {
        "nightly-hello",
        "uc1_daily",
        "weekly",
    }


def test_item_cron_and_scheduler_timezone_become_schedule_and_time_zone(
    migrated: dict[str, dict[str, Any]],
) -> None:
    spec = migrated["aetherflow-nightly-hello"]["spec"]
    assert (spec["schedule"], spec["timeZone"]) == ("0 2 * * *", "Europe/Berlin")


@pytest.mark.parametrize(
    ("name", "deadline"),
    [
        ("aetherflow-nightly-hello", 120),  # misfire_grace_time as given
        ("aetherflow-uc1-daily", 300),  # the upstream default
        ("aetherflow-weekly", 10),  # at least 10 s
    ],
)
def test_misfire_grace_time_becomes_starting_deadline_seconds(
    migrated: dict[str, dict[str, Any]], name: str, deadline: int
) -> None:
    assert migrated[name]["spec"]["startingDeadlineSeconds"] == deadline


def test_flow_yaml_and_flow_job_become_the_flow_file_in_the_mount_and_the_job(
    migrated: dict[str, dict[str, Any]],
) -> None:
    env = env_values(runner(migrated["aetherflow-nightly-hello"]))
    assert env["AETHERFLOW_FLOW_FILE"] == "/etc/aetherflow/flows/flow.yaml"  # directory part dropped
    assert env["AETHERFLOW_FLOW_JOB"] == "main"
    assert "AETHERFLOW_BUNDLE_MANIFEST" not in env


def test_bundle_manifest_item_runs_the_manifest_from_the_bundle_mount(migrated: dict[str, dict[str, Any]]) -> None:
    env = env_values(runner(migrated["aetherflow-uc1-daily"]))
    assert env["AETHERFLOW_BUNDLE_MANIFEST"] == "/etc/aetherflow/bundle/manifest_smb.yaml"
    assert env["AETHERFLOW_ALLOW_STALE_BUNDLE"] == "true"
    assert "AETHERFLOW_FLOW_FILE" not in env


def test_one_instance_rule_and_job_defaults() -> None:
    (cj,) = cronjobs(rendered(None))
    spec = cj["spec"]
    job = spec["jobTemplate"]["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 3)
    assert spec["timeZone"] == "Etc/UTC" and spec["suspend"] is False
    assert job["backoffLimit"] == 2
    assert job["activeDeadlineSeconds"] == 21600 and "ttlSecondsAfterFinished" not in job
    assert pod_spec(cj)["terminationGracePeriodSeconds"] == 90


def test_job_limits_and_per_item_overrides_from_values() -> None:
    jobs = _by_name(rendered(FULL))
    nightly = jobs["aetherflow-etl-nightly-sales"]
    hourly = jobs["aetherflow-etl-hourly-sync"]
    job = nightly["spec"]["jobTemplate"]["spec"]
    assert (job["activeDeadlineSeconds"], job["ttlSecondsAfterFinished"], job["backoffLimit"]) == (7200, 86400, 4)
    assert hourly["spec"]["timeZone"] == "America/New_York" and nightly["spec"]["timeZone"] == "Europe/Berlin"
    assert hourly["spec"]["suspend"] is True and nightly["spec"]["suspend"] is False
    assert runner(hourly)["resources"]["limits"] == {"memory": "2Gi"}
    assert runner(nightly)["resources"]["limits"] == {"memory": "1Gi"}
    # `flow` is an alias of flow_yaml
    assert env_values(runner(hourly))["AETHERFLOW_FLOW_FILE"] == "/etc/aetherflow/flows/sales.yaml"


def test_item_env_overrides_extra_env_which_overrides_the_chart() -> None:
    jobs = _by_name(rendered(FULL))
    hourly = env_values(runner(jobs["aetherflow-etl-hourly-sync"]))
    nightly = env_values(runner(jobs["aetherflow-etl-nightly-sales"]))
    assert hourly["AETHERFLOW_RUN_ID"] == "sales-manual-rerun"
    assert hourly["AETHERFLOW_LOG_LEVEL"] == "DEBUG"  # item env over extraEnv over logLevel
    assert nightly["AETHERFLOW_LOG_LEVEL"] == "ERROR"  # extraEnv over logLevel
    assert "AETHERFLOW_RUN_ID" not in nightly


def test_cronjob_name_is_dns_safe_and_at_most_52_characters(tmp_path: Path) -> None:
    values = write_values(
        tmp_path,
        {
            "schedules": [
                {"id": "A_very.Long_schedule-id-" + "x" * 39, "cron": "0 1 * * *", "flow_yaml": "minimal.yaml"}
            ]
        },
    )
    (cj,) = cronjobs(template(values))
    name = cj["metadata"]["name"]
    assert len(name) <= 52 and name == name.lower() and not name.endswith("-")
    assert name.startswith("aetherflow-a-very-long-schedule-id-")


def test_ids_that_collide_after_normalising_are_refused(tmp_path: Path) -> None:
    values = write_values(
        tmp_path,
        {
            "schedules": [
                {"id": "sales_daily", "cron": "0 1 * * *", "flow_yaml": "minimal.yaml"},
                {"id": "sales-daily", "cron": "0 2 * * *", "flow_yaml": "minimal.yaml"},
            ]
        },
    )
    with pytest.raises(HelmFailed, match=re.escape('already used by schedule "sales_daily"')):
        template(values)


def test_flow_yaml_that_is_not_in_the_flows_configmap_is_refused(tmp_path: Path) -> None:
    values = write_values(tmp_path, {"schedules": [{"id": "x", "cron": "0 1 * * *", "flow_yaml": "missing.yaml"}]})
    with pytest.raises(HelmFailed, match=re.escape('flow_yaml "missing.yaml" is not a key of flows')):
        template(values)


def test_bundle_manifest_without_a_bundle_configmap_is_refused(tmp_path: Path) -> None:
    values = write_values(tmp_path, {"schedules": [{"id": "x", "cron": "0 1 * * *", "bundle_manifest": "b.yaml"}]})
    with pytest.raises(HelmFailed, match="needs bundleManifests or bundleManifestsExistingConfigMap"):
        template(values)


def test_a_schedule_per_item_with_existing_objects_wires_their_names() -> None:
    objects = rendered(CHART / "ci" / "existing-resources-values.yaml")
    assert {o["kind"] for o in objects} == {"CronJob", "Job"}  # nothing else is created
    for cj in cronjobs(objects):
        volumes = {v["name"]: v for v in pod_spec(cj)["volumes"]}
        assert volumes["flows"]["configMap"]["name"] == "team-flows"
        assert volumes["profiles"]["secret"]["secretName"] == "team-profiles"
        assert volumes["env-files"]["secret"]["secretName"] == "team-env"
        assert volumes["bundle"]["configMap"]["name"] == "team-bundles"
        assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "team-state"
        assert pod_spec(cj)["serviceAccountName"] == "team-runner"
        env = env_values(runner(cj))
        assert yaml.safe_load(env["AETHERFLOW_ENV_FILES"]) == [
            {"path": "/etc/aetherflow/env/app.env", "type": "dotenv"},
            {"path": "/etc/aetherflow/env/db.env", "type": "dotenv"},
        ]


def test_env_files_as_a_directory_of_variables() -> None:
    (cj,) = cronjobs(rendered(CHART / "ci" / "ephemeral-values.yaml"))
    env = env_values(runner(cj))
    assert yaml.safe_load(env["AETHERFLOW_ENV_FILES"]) == [{"path": "/etc/aetherflow/env", "type": "dir"}]
    volumes = {v["name"]: v for v in pod_spec(cj)["volumes"]}
    assert volumes["data"] == {"name": "data", "emptyDir": {}}  # persistence disabled


def test_dotenv_env_files_from_an_existing_secret_need_their_keys(tmp_path: Path) -> None:
    values = write_values(tmp_path, {"envFilesExistingSecret": "env", "envFilesType": "dotenv"})
    with pytest.raises(HelmFailed, match="needs envFilesDotenvKeys"):
        template(values)


def test_pushgateway_settings_are_passed_only_when_a_url_is_set() -> None:
    (default,) = cronjobs(rendered(None))
    assert not any(k.startswith("AETHERFLOW_PUSHGATEWAY") for k in env_values(runner(default)))
    nightly = _by_name(rendered(FULL))["aetherflow-etl-nightly-sales"]
    env = env_values(runner(nightly))
    assert {k: v for k, v in env.items() if k.startswith("AETHERFLOW_PUSHGATEWAY")} == {
        "AETHERFLOW_PUSHGATEWAY_URL": "http://pushgateway.monitoring.svc:9091",
        "AETHERFLOW_PUSHGATEWAY_TIMEOUT_SECONDS": "1.5",
        "AETHERFLOW_PUSHGATEWAY_ATTEMPTS": "3",
        "AETHERFLOW_PUSHGATEWAY_NAMESPACE_LABEL": "true",
        "AETHERFLOW_PUSHGATEWAY_RUN_INFO": "true",
    }


def test_image_defaults_to_the_app_version_and_a_digest_wins() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    (default,) = cronjobs(rendered(None))
    assert runner(default)["image"] == f"ghcr.io/aetherflow/aetherflow:{chart['appVersion']}"
    nightly = _by_name(rendered(FULL))["aetherflow-etl-nightly-sales"]
    assert runner(nightly)["image"].startswith("registry.example.com/aetherflow@sha256:")
