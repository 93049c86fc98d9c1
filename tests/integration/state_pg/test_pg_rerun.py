"""``--rerun`` and gone workspaces with the state in PostgreSQL, through the real CLI: the reset is one transaction
of that store, attempt history stays, and the request is stored with the Job UID."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.integration.rerun.support import diamond, executed, workspace
from tests.integration.state_pg.conftest import query, schema_of
from tests.servers.postgres import PostgresServer
from tests.support.cli import aetherflow, run_args


def test_rerun_on_postgresql_re_executes_the_job_and_its_dependents_only(
    pg_url: str, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    flow = diamond(tmp_path)
    args = run_args(flow.flow, tmp_path / "unused.db", flow.work, "r1")
    args[args.index("--state") + 1] = pg_url
    pod = {"AETHERFLOW_JOB_UID": "uid-pg"}
    assert aetherflow(*args).code == 0

    again = aetherflow(*args, "--rerun", "b", env=pod)
    retried = aetherflow(*args, "--rerun", "b", env=pod)

    assert again.code == 0 and retried.code == 0, again.stderr + retried.stderr
    assert executed(tmp_path) == ["a", "b", "c", "d", "b", "c"]
    schema = schema_of(pg_url)
    attempts = query(postgres_server, schema, "SELECT job_id, attempt FROM step_attempts ORDER BY job_id, attempt")
    assert attempts == [("a", 1), ("b", 1), ("b", 2), ("c", 1), ("c", 2), ("d", 1)]
    (request,) = query(postgres_server, schema, "SELECT rerun_request FROM runs")[0]
    assert json.loads(request) == {"jobs": ["b"], "job_uid": "uid-pg"}
    assert retried.event("rerun_already_reset") and not retried.event("jobs_reset")


def test_a_resume_on_postgresql_reruns_a_dependency_whose_workspace_is_gone(pg_url: str, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    flow = diamond(tmp_path, gate=gate)
    args = run_args(flow.flow, tmp_path / "unused.db", flow.work, "r1")
    args[args.index("--state") + 1] = pg_url
    assert aetherflow(*args).code == 1
    shutil.rmtree(workspace(flow, "b"))
    gate.touch()

    resumed = aetherflow(*args)

    assert resumed.code == 0, resumed.stderr
    assert executed(tmp_path) == ["a", "b", "c", "d", "b", "c"]
