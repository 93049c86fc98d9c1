"""NOTES.txt tells how to run a schedule now and where to read the result (rendered by helm install --dry-run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.chart.rendering import CHART, NAMESPACE, RELEASE, helm, values_args, write_values


def _notes(*values: Path | None) -> str:
    proc = helm("install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--dry-run=client", *values_args(values))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split("NOTES:", 1)[1]


@pytest.fixture(scope="module")
def full_notes() -> str:
    return _notes(CHART / "ci" / "full-values.yaml")


def test_notes_give_the_manual_trigger_command_of_every_cronjob(full_notes: str) -> None:
    for name in ("aetherflow-etl-nightly-sales", "aetherflow-etl-hourly-sync", "aetherflow-etl-uc1-daily"):
        assert f"kubectl create job -n {NAMESPACE} --from=cronjob/{name} {name}-manual-$(date +%s)" in full_notes


def test_notes_show_how_to_read_the_termination_message_and_the_run_record(full_notes: str) -> None:
    assert ".status.containerStatuses[0].state.terminated.message" in full_notes
    assert '"command":["aetherflow","runs","show","RUN_ID","--state","/var/lib/aetherflow/state/FLOW_ID.db"]' in (
        full_notes
    )
    assert '"persistentVolumeClaim":{"claimName":"aetherflow-etl-data"}' in full_notes
    assert "PersistentVolumeClaim aetherflow-etl-data" in full_notes


def test_notes_give_the_pushgateway_grouping_key(full_notes: str) -> None:
    assert 'job="aetherflow", flow="<flow_id>", namespace="aetherflow"' in full_notes


def test_notes_warn_about_a_shared_claim(tmp_path: Path) -> None:
    notes = _notes(write_values(tmp_path, {"persistence": {"accessModes": ["ReadWriteMany"]}}))
    assert "WARNING: persistence.accessModes contains ReadWriteMany" in notes


def test_notes_warn_about_read_write_once_pod(tmp_path: Path) -> None:
    notes = _notes(write_values(tmp_path, {"persistence": {"accessModes": ["ReadWriteOncePod"]}}))
    assert "overlap is never reported" in notes


def test_notes_do_not_warn_with_the_defaults() -> None:
    assert "WARNING" not in _notes()


def test_notes_warn_that_without_a_volume_runs_cannot_resume() -> None:
    notes = _notes(CHART / "ci" / "ephemeral-values.yaml")
    assert "WARNING: persistence.enabled is false" in notes
