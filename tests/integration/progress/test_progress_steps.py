"""``step_progress`` of the steps the CLI tests do not reach: the PostgreSQL COPY fast path of ``db_extract_stream``,
SMB transfers through both connectors, and what metrics observers make of the event."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aetherflow.api import Status
from aetherflow.events import StepProgress
from aetherflow.observability.hook import MetricsHook
from aetherflow.spec.resources import ResolvedResource
from tests.integration.smb.conftest import smb_resource
from tests.servers.postgres import PostgresServer
from tests.servers.smb import SmbServer
from tests.support.context import make_step_context, run_step
from tests.support.events import event_of, observe

pytestmark = pytest.mark.servers


def test_the_postgresql_copy_path_reports_the_bytes_it_writes(tmp_path: Path, postgres: PostgresServer) -> None:
    postgres.execute(
        "CREATE TABLE big AS SELECT g AS id, 'row ' || g AS label FROM generate_series(1, 500000) AS g",
    )
    resource = ResolvedResource("wh", "db", "sqlalchemy", {"url": postgres.url("postgresql+psycopg")}, {})
    ctx, events, pool = make_step_context(tmp_path, resources={"wh": resource}, progress_seconds=0.001)
    try:
        result = run_step(
            ctx,
            "db_extract_stream",
            {"resource": "wh", "sql": "SELECT id, label FROM big ORDER BY id", "output": "big.csv", "format": "csv"},
        )
    finally:
        pool.close_all()

    assert result.status == Status.SUCCESS
    assert result.output["row_count"] == 500000
    size = Path(result.output["artifact_path"]).stat().st_size
    reports = events.named("step_progress")
    assert reports, "the COPY path reported nothing"
    assert {r["unit"] for r in reports} == {"bytes"}
    dones = [r["done"] for r in reports]
    assert dones == sorted(dones)
    assert 0 < dones[-1] <= size
    assert len(reports) <= size // (1 << 20) + 1  # counted per 1 MiB buffer written, not per row


@pytest.mark.parametrize("driver", ["smbclient", "pysmb"])
def test_smb_upload_and_download_report_bytes(tmp_path: Path, smb_server: SmbServer, smb_dir: str, driver: str) -> None:
    size = 6 * 1024 * 1024
    ctx, events, pool = make_step_context(
        tmp_path, resources={"share": smb_resource(smb_server, driver)}, progress_seconds=0.005
    )
    (ctx.artifacts_dir / "big.bin").write_bytes(os.urandom(size))
    try:
        up = run_step(ctx, "smb_upload_files", {"resource": "share", "local_files": "big.bin", "remote_dir": smb_dir})
        listed = run_step(ctx, "smb_list_files", {"resource": "share", "remote_dir": smb_dir})
        down = run_step(
            ctx, "smb_download_files", {"resource": "share", "files": listed.output["files"], "dest_dir": "back"}
        )
    finally:
        pool.close_all()

    assert (up.status, down.status) == (Status.SUCCESS, Status.SUCCESS)
    by_step: dict[str, list[dict[str, object]]] = {"smb_upload_files": [], "smb_download_files": []}
    for event in events.named("step_progress"):
        by_step[str(event["step_type"])].append(event)
    for step_type, reports in by_step.items():
        assert reports, f"{step_type} reported nothing"
        assert all(r["unit"] == "bytes" and r["total"] == size for r in reports)
        assert all(0 < int(str(r["done"])) <= size for r in reports)


PROGRESS = {
    "flow_id": "f",
    "run_id": "r",
    "job_id": "j",
    "step_id": "s",
    "step_type": "db_extract",
    "unit": "rows",
    "done": 5,
    "total": None,
    "rate": 1.0,
    "elapsed_seconds": 5.0,
}


def test_progress_is_a_typed_event_that_leaves_an_unknown_total_out_of_its_line() -> None:
    event = event_of("step_progress", PROGRESS)

    assert isinstance(event, StepProgress)
    assert (event.name, event.level) == ("step_progress", "INFO")
    assert "total" not in event.fields()


def test_the_metrics_hook_is_not_called_for_progress_events() -> None:
    calls: list[str] = []

    class Recorder:
        def __getattr__(self, name: str) -> object:
            return lambda **_: calls.append(name)

    observe(MetricsHook(Recorder()), "step_progress", PROGRESS)

    assert calls == []


def test_pushgateway_metrics_ignore_progress_events() -> None:
    from aetherflow.observability.metrics import RunMetrics

    metrics = RunMetrics("f", {"j": ["s"]}, run_id="r")
    observe(metrics, "step_progress", PROGRESS)

    assert (metrics.status, metrics.started_at, metrics.attempt) == ("running", None, 0)
