"""The chart's `state.backend: postgresql` environment, applied to a real runner and a real PostgreSQL: the URL and the
password come from the Secret, the schema from PGOPTIONS, so two releases sharing a database never share runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.integration.state_pg.conftest import query
from tests.servers.postgres import PostgresServer
from tests.support.cli import aetherflow, write_flow
from tests.unit.chart.rendering import cronjobs, runner, template, write_values

FLOW = """
version: 1
flow: {id: chartflow}
jobs:
  - id: a
    steps:
      - {id: s1, type: external.process, inputs: {command: ["/bin/sh", "-c", "echo one"]}}
"""
STATE_ENV = ("AETHERFLOW_STATE_URL", "PGPASSWORD", "PGOPTIONS")


def _chart_env(tmp_path: Path, namespace: str, secret: dict[str, str]) -> dict[str, str]:
    """The state variables of the rendered runner container, with secretKeyRefs resolved from ``secret``."""
    values = write_values(
        tmp_path,
        {
            "state": {"backend": "postgresql", "postgresql": {"existingSecret": "pg", "passwordKey": "password"}},
            "persistence": {"accessModes": ["ReadWriteMany"]},
        },
        name=f"{namespace}.yaml",
    )
    (cronjob,) = cronjobs(template(values, extra=["--namespace", namespace]))
    env: dict[str, str] = {}
    for entry in runner(cronjob)["env"]:
        if entry["name"] not in STATE_ENV:
            continue
        ref: dict[str, Any] | None = entry.get("valueFrom", {}).get("secretKeyRef")
        env[entry["name"]] = secret[ref["key"]] if ref else entry["value"]
    return env


def test_two_releases_on_one_database_keep_their_runs_in_their_own_schemas(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    secret = {
        "url": f"postgresql://{postgres_server.user}@{postgres_server.host}:{postgres_server.port}/{postgres_server.dbname}",
        "password": postgres_server.password,
    }
    staging = _chart_env(tmp_path, "etl-staging", secret)
    production = _chart_env(tmp_path, "etl-prod", secret)
    flow = write_flow(tmp_path, FLOW)
    try:
        ran = aetherflow(
            "run", "--flow-yaml", str(flow), "--work-root", str(tmp_path / "w"), "--run-id", "r1", env=staging
        )
        assert ran.code == 0, ran.stderr
        assert aetherflow("state", "init", env=production).code == 0
        seen_by_prod = aetherflow("runs", "list", "--json", env=production)
        seen_by_staging = aetherflow("runs", "list", "--json", env=staging)
        assert seen_by_staging.code == seen_by_prod.code == 0, seen_by_staging.stderr + seen_by_prod.stderr
        assert [r["run_id"] for r in json.loads(seen_by_staging.stdout)] == ["r1"]
        assert json.loads(seen_by_prod.stdout) == []
        assert query(postgres_server, "aetherflow_etl_staging_aetherflow", "SELECT status FROM runs") == [("SUCCESS",)]
        assert postgres_server.password not in ran.stdout + ran.stderr
    finally:
        for schema in ("aetherflow_etl_staging_aetherflow", "aetherflow_etl_prod_aetherflow"):
            postgres_server.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
