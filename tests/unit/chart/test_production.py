"""What a multi-node production cluster needs from the rendered CronJobs: deadlines, per-schedule overrides,
co-location with a ReadWriteOnce volume, valid crons, string tags, retention, schedule identity, bundle-only
releases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.chart.rendering import (
    CHART,
    NAMESPACE,
    RELEASE,
    VALUES_CASES,
    HelmFailed,
    case_id,
    cronjobs,
    env_values,
    helm,
    lint,
    of_kind,
    pod_spec,
    rendered,
    runner,
    template,
    values_args,
    write_values,
)

MONITORING = CHART / "ci" / "monitoring-values.yaml"
ITEM = {"id": "nightly", "cron": "0 2 * * *", "flow_yaml": "minimal.yaml"}
HOSTNAME = "kubernetes.io/hostname"


def _by_name(objects: Any) -> dict[str, dict[str, Any]]:
    return {cj["metadata"]["name"]: cj for cj in cronjobs(objects)}


def _colocation_terms(cj: dict[str, Any]) -> list[dict[str, Any]]:
    affinity = pod_spec(cj).get("affinity", {})
    required = affinity.get("podAffinity", {}).get("requiredDuringSchedulingIgnoredDuringExecution", [])
    terms: list[dict[str, Any]] = required
    return [t for t in terms if t.get("topologyKey") == HOSTNAME]


@pytest.mark.parametrize("values", VALUES_CASES, ids=case_id)
def test_every_job_has_a_deadline(values: Path | None) -> None:
    for cj in cronjobs(rendered(values)):
        assert cj["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] >= 1, cj["metadata"]["name"]


def test_the_default_deadline_is_six_hours() -> None:
    (cj,) = cronjobs(rendered(None))
    assert cj["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 21600


def test_an_item_overrides_deadline_retries_history_and_placement() -> None:
    jobs = _by_name(rendered(MONITORING))
    nightly, hourly = jobs["aetherflow-nightly"], jobs["aetherflow-hourly"]
    assert nightly["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 7200
    job = hourly["spec"]["jobTemplate"]["spec"]
    assert (job["activeDeadlineSeconds"], job["backoffLimit"]) == (1800, 4)
    assert (hourly["spec"]["successfulJobsHistoryLimit"], hourly["spec"]["failedJobsHistoryLimit"]) == (1, 5)
    assert pod_spec(hourly)["nodeSelector"] == {"pool": "batch"}
    assert pod_spec(hourly)["tolerations"][0]["key"] == "batch"
    assert "nodeAffinity" not in pod_spec(hourly)["affinity"]  # an item's affinity replaces the chart's
    assert "nodeAffinity" in pod_spec(nightly)["affinity"]


def test_a_null_item_deadline_removes_the_deadline(tmp_path: Path) -> None:
    (cj,) = cronjobs(template(write_values(tmp_path, {"schedules": [{**ITEM, "activeDeadlineSeconds": None}]})))
    assert "activeDeadlineSeconds" not in cj["spec"]["jobTemplate"]["spec"]


@pytest.mark.parametrize("values", VALUES_CASES, ids=case_id)
def test_a_read_write_once_claim_colocates_every_runner_pod_of_the_release(values: Path | None) -> None:
    objects = rendered(values)
    claims = of_kind(objects, "PersistentVolumeClaim")
    for cj in cronjobs(objects):
        mounts_claim = any("persistentVolumeClaim" in v for v in pod_spec(cj)["volumes"])
        terms = _colocation_terms(cj)
        if not mounts_claim:
            assert terms == [], cj["metadata"]["name"]
            continue
        modes = claims[0]["spec"]["accessModes"] if claims else ["ReadWriteOnce"]
        if "ReadWriteOnce" not in modes:
            continue
        assert len(terms) == 1, cj["metadata"]["name"]
        selector = terms[0]["labelSelector"]["matchLabels"]
        pod_labels = cj["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
        assert selector["app.kubernetes.io/component"] == "runner"
        assert selector.items() <= pod_labels.items(), "a pod must match its own term to start where none runs"


def test_the_colocation_term_is_merged_into_a_user_affinity() -> None:
    jobs = _by_name(rendered(MONITORING))
    hourly = pod_spec(jobs["aetherflow-hourly"])["affinity"]["podAffinity"]
    assert hourly["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"] == 50
    assert len(_colocation_terms(jobs["aetherflow-hourly"])) == 1
    assert len(_colocation_terms(jobs["aetherflow-nightly"])) == 1


def test_a_read_write_many_claim_needs_no_colocation(tmp_path: Path) -> None:
    values = write_values(tmp_path, {"persistence": {"accessModes": ["ReadWriteMany"]}})
    (cj,) = cronjobs(template(values))
    assert _colocation_terms(cj) == []


@pytest.mark.parametrize("cron", ["61 25 * * *", "0 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8", "*/0 * * * *"])
def test_an_invalid_cron_is_refused_naming_the_field(tmp_path: Path, cron: str) -> None:
    values = write_values(tmp_path, {"schedules": [{**ITEM, "cron": cron}]})
    with pytest.raises(HelmFailed, match=r"/schedules/0/cron"):
        template(values)
    assert not lint(values).ok


@pytest.mark.parametrize("cron", ["0 2 * * *", "*/15 9-17 * * mon-fri", "0 0 1,15 * *", "0 0 ? * SUN", "@daily"])
def test_valid_crons_render(tmp_path: Path, cron: str) -> None:
    (cj,) = cronjobs(template(write_values(tmp_path, {"schedules": [{**ITEM, "cron": cron}]})))
    assert cj["spec"]["schedule"] == cron


def test_a_quoted_numeric_tag_renders_exactly(tmp_path: Path) -> None:
    (cj,) = cronjobs(template(write_values(tmp_path, {"image": {"tag": "1.10"}})))
    assert runner(cj)["image"].endswith(":1.10")


def test_runs_carry_their_schedule_name_time_zone_retention_and_overlap_code() -> None:
    jobs = _by_name(rendered(CHART / "ci" / "full-values.yaml"))
    env = env_values(runner(jobs["aetherflow-etl-hourly-sync"]))
    assert env["AETHERFLOW_SCHEDULE_NAME"] == "aetherflow-etl-hourly-sync"
    assert env["AETHERFLOW_TIMEZONE"] == "America/New_York"
    assert env["AETHERFLOW_STATE_RETENTION_DAYS"] == "14"
    assert env["AETHERFLOW_OVERLAP_EXIT_CODE"] == "0"


def test_null_retention_keeps_every_run(tmp_path: Path) -> None:
    (cj,) = cronjobs(template(write_values(tmp_path, {"state": {"retentionDays": None}})))
    assert "AETHERFLOW_STATE_RETENTION_DAYS" not in env_values(runner(cj))


def test_a_bundle_only_release_renders_without_flows(tmp_path: Path) -> None:
    values = write_values(
        tmp_path,
        {
            "flows": None,  # null deletes the default flow (an empty map would merge with it)
            "bundleManifests": {"m.yaml": "version: 1\nbundle:\n  id: b\n"},
            "schedules": [{"id": "b", "cron": "0 3 * * *", "bundle_manifest": "m.yaml"}],
        },
    )
    objects = template(values)
    assert not [o for o in of_kind(objects, "ConfigMap") if o["metadata"]["name"].endswith("-flows")]
    (cj,) = cronjobs(objects)
    assert "flows" not in {v["name"] for v in pod_spec(cj)["volumes"]}
    assert "AETHERFLOW_BUNDLE_MANIFEST" in env_values(runner(cj))
    assert of_kind(objects, "Job") == []  # no flow file to validate: no helm test hook


def _notes(*values: Path | None) -> str:
    proc = helm("install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--dry-run=client", *values_args(values))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split("NOTES:", 1)[1]


def test_notes_manual_job_names_fit_63_characters_and_never_look_like_a_slot(tmp_path: Path) -> None:
    long_id = "a-very-long-schedule-identifier-" + "x" * 30
    values = write_values(tmp_path, {"schedules": [{**ITEM, "id": long_id}]})
    notes = _notes(values)
    (cj,) = cronjobs(template(values))
    cronjob = cj["metadata"]["name"]
    line = next(x for x in notes.splitlines() if "kubectl create job" in x)
    job_name = line.split()[-1].replace("$(date +%s)", "1772330400")
    assert len(job_name) <= 63
    assert not job_name.removeprefix(cronjob + "-").isdigit()


def test_notes_debug_pod_runs_as_1001_with_the_runner_labels_and_colocation() -> None:
    notes = _notes()
    assert '"runAsUser":1001' in notes
    assert "--labels=app.kubernetes.io/component=runner," in notes
    assert '"topologyKey":"kubernetes.io/hostname"' in notes


def test_notes_say_overlaps_complete_the_job_by_default_and_fail_it_with_75() -> None:
    assert "it exits 0" in _notes()
    assert "exits 75 (overlap) and its Job fails at once" in _notes(MONITORING)


def test_notes_say_there_is_no_overlap_protection_without_a_volume() -> None:
    assert "NO overlap protection between pods" in _notes(CHART / "ci" / "ephemeral-values.yaml")


def test_notes_mention_helm_test_only_when_the_test_hook_is_rendered() -> None:
    assert "helm test" in _notes()
    assert "helm test" not in _notes(CHART / "ci" / "ephemeral-values.yaml")


def test_without_kubernetes_events_the_runner_has_no_token_and_no_role() -> None:
    objects = rendered(None)
    assert of_kind(objects, "Role") == [] and of_kind(objects, "RoleBinding") == []
    for cj in cronjobs(objects):
        assert pod_spec(cj)["automountServiceAccountToken"] is False
        assert "AETHERFLOW_KUBERNETES_EVENTS" not in env_values(runner(cj))


def test_kubernetes_events_mount_a_token_and_grant_only_create_on_events() -> None:
    objects = rendered(MONITORING)
    (role,) = of_kind(objects, "Role")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["events"], "verbs": ["create"]}]
    (binding,) = of_kind(objects, "RoleBinding")
    (sa,) = of_kind(objects, "ServiceAccount")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": NAMESPACE}]
    for cj in cronjobs(objects):
        assert pod_spec(cj)["automountServiceAccountToken"] is True
        assert pod_spec(cj)["serviceAccountName"] == sa["metadata"]["name"]
        assert env_values(runner(cj))["AETHERFLOW_KUBERNETES_EVENTS"] == "true"
