"""`state.backend: postgresql`: the URL and password from a Secret, a schema per namespace and release, no state
volume co-location, and a refusal of a work volume that only one node can mount."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.chart.rendering import (
    CHART,
    NAMESPACE,
    RELEASE,
    HelmFailed,
    cronjobs,
    env_of,
    helm,
    pod_spec,
    rendered,
    runner,
    template,
    values_args,
    write_values,
)

PG_VALUES = CHART / "ci" / "postgresql-values.yaml"
PG = {"state": {"backend": "postgresql", "postgresql": {"existingSecret": "pg-state"}}}


def _notes(*values: Path | None) -> str:
    proc = helm("install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--dry-run=client", *values_args(values))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split("NOTES:", 1)[1]


def _with(extra: dict[str, Any]) -> dict[str, Any]:
    return {**PG, **extra}


def test_the_state_url_and_password_come_from_the_secret_never_from_values() -> None:
    (cj,) = cronjobs(rendered(PG_VALUES))
    env = env_of(runner(cj))
    assert env["AETHERFLOW_STATE_URL"]["valueFrom"] == {"secretKeyRef": {"name": "aetherflow-state", "key": "url"}}
    assert env["PGPASSWORD"]["valueFrom"] == {"secretKeyRef": {"name": "aetherflow-state", "key": "password"}}


def test_the_schema_defaults_to_the_namespace_and_release() -> None:
    (cj,) = cronjobs(rendered(PG_VALUES))
    assert env_of(runner(cj))["PGOPTIONS"]["value"] == f"-c search_path=aetherflow_{NAMESPACE}_{RELEASE}"


def test_a_namespace_with_dashes_becomes_a_plain_identifier(tmp_path: Path) -> None:
    values = write_values(tmp_path, _with({"persistence": {"enabled": False}}))
    (cj,) = cronjobs(template(values, extra=["--namespace", "etl-prod.eu"]))
    assert env_of(runner(cj))["PGOPTIONS"]["value"] == "-c search_path=aetherflow_etl_prod_eu_aetherflow"


def test_a_long_namespace_is_cut_to_postgresqls_identifier_limit(tmp_path: Path) -> None:
    values = write_values(tmp_path, _with({"persistence": {"enabled": False}}))
    (cj,) = cronjobs(template(values, extra=["--namespace", "n" * 63]))
    schema = env_of(runner(cj))["PGOPTIONS"]["value"].removeprefix("-c search_path=")
    assert len(schema) == 63 and schema.startswith("aetherflow_nnn")


def test_a_given_schema_wins(tmp_path: Path) -> None:
    values = write_values(tmp_path, _with({"persistence": {"enabled": False}}))
    (cj,) = cronjobs(template(values, extra=["--set", "state.postgresql.schema=nightly_etl"]))
    assert env_of(runner(cj))["PGOPTIONS"]["value"] == "-c search_path=nightly_etl"


def test_a_schema_that_is_not_a_plain_identifier_is_refused(tmp_path: Path) -> None:
    values = write_values(tmp_path, _with({"persistence": {"enabled": False}}))
    with pytest.raises(HelmFailed, match="schema"):
        template(values, extra=["--set", "state.postgresql.schema=x;DROP TABLE runs"])


def test_the_postgresql_backend_without_a_secret_is_refused(tmp_path: Path) -> None:
    values = write_values(tmp_path, {"state": {"backend": "postgresql"}, "persistence": {"enabled": False}})
    with pytest.raises(HelmFailed, match="existingSecret"):
        template(values)


def test_a_work_volume_only_one_node_can_mount_is_refused(tmp_path: Path) -> None:
    with pytest.raises(HelmFailed, match="mountable on every node"):
        template(write_values(tmp_path, PG))


def test_a_shared_work_claim_has_no_node_co_location() -> None:
    (cj,) = cronjobs(rendered(PG_VALUES))
    assert "podAffinity" not in pod_spec(cj).get("affinity", {})
    volumes = {v["name"]: v for v in pod_spec(cj)["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == f"{RELEASE}-data"


def test_an_existing_claim_is_accepted_for_work_files(tmp_path: Path) -> None:
    values = write_values(tmp_path, _with({"persistence": {"existingClaim": "shared-work"}}))
    (cj,) = cronjobs(template(values))
    volumes = {v["name"]: v for v in pod_spec(cj)["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "shared-work"


def test_the_sqlite_backend_sets_no_postgresql_variables() -> None:
    (cj,) = cronjobs(rendered(None))
    assert not {"AETHERFLOW_STATE_URL", "PGPASSWORD", "PGOPTIONS"} & set(env_of(runner(cj)))


def test_notes_show_the_run_record_from_postgresql_without_a_volume() -> None:
    notes = _notes(PG_VALUES)
    assert '"command":["aetherflow","runs","show","RUN_ID"]' in notes
    assert '{"name":"PGOPTIONS","value":"-c search_path=aetherflow_aetherflow_aetherflow"}' in notes
    assert "persistentVolumeClaim" not in notes.split("Work volume")[0]
    assert "WARNING" not in notes


def test_notes_say_an_empty_dir_retry_can_repeat_side_effects(tmp_path: Path) -> None:
    notes = _notes(write_values(tmp_path, _with({"persistence": {"enabled": False}})))
    assert "can happen twice" in notes
