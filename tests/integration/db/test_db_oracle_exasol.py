"""``db:oracledb`` and ``db:exasol`` up to the connection: no Oracle or Exasol server runs here.

What is checked for real: config validation, the driver import (and the missing-extra message), the connect call with
the configured DSN against a closed 127.0.0.1 port (refused: transient, retried by the step's policy), and that the
password never reaches an error. Queries against a live server are not tested.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from aetherflow.api import ConnectorError
from aetherflow.spec.resources import ResolvedResource
from tests.integration.db.conftest import DbHarness
from tests.servers.postgres import free_port
from tests.support.cli import make_flow

oracledb = pytest.importorskip("oracledb")
pyexasol = pytest.importorskip("pyexasol")

SECRET = "pw-'never\"logged\\"


def oracle(dsn: str, **options: object) -> ResolvedResource:
    return ResolvedResource("ora", "db", "oracledb", {"user": "app", "password": SECRET, "dsn": dsn}, options)


def exasol(dsn: str, **options: object) -> ResolvedResource:
    config = {"user": "app", "password": SECRET, "dsn": dsn, "schema": "S"}
    return ResolvedResource("exa", "db", "exasol", config, options)


@pytest.mark.parametrize("pool", [True, False], ids=["pooled", "unpooled"])
def test_oracle_on_a_closed_port_is_a_transient_connect_error_without_the_password(
    harness_factory: Callable[..., DbHarness], pool: bool
) -> None:
    port = free_port()
    h = harness_factory(oracle(f"127.0.0.1:{port}/FREEPDB1", pool={"enabled": pool}))

    with pytest.raises(ConnectorError) as caught:
        h.run("db_fetch_small", sql="SELECT 1 FROM dual WHERE 1 = :x", params={"x": 1})

    message = str(caught.value)
    assert caught.value.transient
    assert message.startswith(f"cannot connect to db resource 'ora' (oracledb app@127.0.0.1:{port}/FREEPDB1)")
    assert "DPY-6005" in message
    assert SECRET not in message


def test_exasol_on_a_closed_port_is_a_transient_connect_error_without_the_password(
    harness_factory: Callable[..., DbHarness],
) -> None:
    port = free_port()
    h = harness_factory(exasol(f"127.0.0.1:{port}", timeout=2))

    with pytest.raises(ConnectorError) as caught:
        h.run("db_extract_stream", sql="SELECT 1", output="x.csv", format="csv")

    message = str(caught.value)
    assert caught.value.transient
    assert message.startswith(f"cannot connect to db resource 'exa' (exasol app@127.0.0.1:{port})")
    assert "Connection refused" in message
    assert SECRET not in message
    assert not (h.artifacts / "x.csv").exists()


def test_an_unparsable_exasol_dsn_is_a_permanent_error(harness_factory: Callable[..., DbHarness]) -> None:
    h = harness_factory(exasol("not a dsn::"))

    with pytest.raises(ConnectorError, match="ExaConnectionDsnError") as caught:
        h.run("db_fetch_small", sql="SELECT 1")

    assert not caught.value.transient


def test_exasol_connections_send_no_usage_telemetry(harness_factory: Callable[..., DbHarness]) -> None:
    from exasol.telemetry.client import config as telemetry_config

    h = harness_factory(exasol(f"127.0.0.1:{free_port()}"))
    with pytest.raises(ConnectorError):
        h.run("db_fetch_small", sql="SELECT 1")

    assert not telemetry_config.was_enabled()


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        (ResolvedResource("ora", "db", "oracledb", {"user": "u", "password": "p"}), r"needs config\.dsn"),
        (ResolvedResource("ora", "db", "oracledb", {"dsn": "h/s"}), r"needs config\.user, config\.password"),
        (ResolvedResource("ora", "db", "oracledb", {"user": " ", "password": "p", "dsn": "h/s"}), r"config\.user"),
        (
            ResolvedResource("ora", "db", "oracledb", {"user": "u", "password": "p", "dsn": "h/s"}, {"pool_size": 0}),
            r"options\.pool\.size must be a positive integer",
        ),
        (
            ResolvedResource("ora", "db", "oracledb", {"user": "u", "password": "p", "dsn": "h/s"}, {"arraysize": "x"}),
            r"options\.arraysize must be a positive integer",
        ),
        (ResolvedResource("exa", "db", "exasol", {"user": "u", "password": "p"}), r"needs config\.dsn"),
        (
            ResolvedResource("exa", "db", "exasol", {"user": "u", "password": "p", "dsn": "h"}, {"timeout": -1}),
            r"options\.timeout must be a positive number",
        ),
    ],
)
def test_incomplete_config_is_refused_before_connecting(
    harness_factory: Callable[..., DbHarness], resource: ResolvedResource, message: str
) -> None:
    h = harness_factory(resource)

    with pytest.raises(ConnectorError, match=message):
        h.connector()


@pytest.mark.parametrize(
    ("module", "resource", "extra"),
    [("oracledb", oracle("h/s"), "oracle"), ("pyexasol", exasol("h:8563"), "exasol")],
)
def test_without_the_driver_the_error_names_the_extra(
    harness_factory: Callable[..., DbHarness],
    monkeypatch: pytest.MonkeyPatch,
    module: str,
    resource: ResolvedResource,
    extra: str,
) -> None:
    h = harness_factory(resource)
    monkeypatch.setitem(sys.modules, module, None)

    with pytest.raises(ConnectorError, match=rf"install the '{extra}' extra \(pip install 'aetherflow\[{extra}\]'\)"):
        h.run("db_fetch_small", sql="SELECT 1")


def test_an_oracle_lib_dir_without_a_client_library_is_a_clear_error(
    harness_factory: Callable[..., DbHarness], tmp_path: Path
) -> None:
    h = harness_factory(oracle("h/s", oracle={"lib_dir": str(tmp_path)}))

    with pytest.raises(ConnectorError, match=r"cannot load the Oracle client from options\.lib_dir") as caught:
        h.run("db_fetch_small", sql="SELECT 1 FROM dual")

    assert not caught.value.transient


@pytest.mark.parametrize("driver", ["oracledb", "exasol"])
def test_a_refused_connection_is_retried_by_the_step_retry_policy(tmp_path: Path, driver: str) -> None:
    port = free_port()
    dsn = f"127.0.0.1:{port}/svc" if driver == "oracledb" else f"127.0.0.1:{port}"
    flow = make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: remote_db}}
        resources:
          wh: {{kind: db, driver: {driver}, config: {{user: app, password: "{{{{ env.DB_PW }}}}", dsn: "{dsn}"}}}}
        jobs:
          - id: extract
            steps:
              - id: pull
                type: db_extract
                inputs: {{resource: wh, sql: "SELECT 1 FROM dual", output: x.tsv}}
                retry: {{max_attempts: 2, backoff_seconds: 0}}
        """,
    )

    result = flow.run(env={"DB_PW": "pw-never-logged"})

    assert result.code == 1
    [(status, attempts, error)] = flow.query("SELECT status, attempts, error FROM step_runs")
    assert (status, attempts) == ("FAILED", 2)
    assert error.startswith("ConnectorError: cannot connect to db resource 'wh'")
    assert "pw-never-logged" not in error + result.stderr
