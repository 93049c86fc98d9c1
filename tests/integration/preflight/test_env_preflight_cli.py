"""The environment preflight of ``aetherflow run`` and ``aetherflow container``: every ``{{env.NAME}}`` without a
default that this invocation may need is set and non-empty, or the run stops with exit 2 before anything exists."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import FlowRun, aetherflow, make_flow

# job ``first`` leaves a marker; job ``later`` reads the warehouse (whose path comes from the environment) and TABLE
FLOW = """
version: 1
flow: {{id: pre}}
resources:
  warehouse:
    kind: db
    driver: sqlite3
    config:
      path: "{{{{env.DB_FILE}}}}"
  spare:
    kind: db
    driver: sqlite3
    config:
      path: "{{{{env.SPARE_DB_FILE}}}}"
jobs:
  - id: first
    steps:
      - id: mark
        type: external.process
        inputs: {{command: ["/bin/sh", "-c", "touch {marker}"]}}
  - id: later
    depends_on: [first]
    steps:
      - id: pull
        type: db_extract
        inputs: {{resource: warehouse, sql: "SELECT '{{{{env.TABLE}}}}' AS t", output: t.tsv}}
"""


def _flow(tmp_path: Path, text: str = FLOW) -> tuple[FlowRun, Path]:
    marker = tmp_path / "first-ran"
    return make_flow(tmp_path, text.format(marker=marker)), marker


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"DB_FILE": str(tmp_path / "wh.db"), "TABLE": "sales", **values}


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("- ")]


def _nothing_happened(flow: FlowRun, marker: Path) -> None:
    assert not marker.exists()
    assert not flow.state.exists() or flow.query("SELECT count(*) FROM runs") == [(0,)]


def test_an_unset_env_in_a_used_resource_stops_the_run_with_one_line_naming_where_it_is_read(tmp_path: Path) -> None:
    flow, marker = _flow(tmp_path)
    env = _env(tmp_path)
    del env["DB_FILE"]

    result = flow.run(env=env)

    assert result.code == 2, result.stderr
    assert f"INVALID: {flow.flow}" in result.stderr.splitlines()  # the file; each line below is in it
    assert _errors(result.stderr) == [
        "- resources.warehouse.config.path: semantic:missing_env - Missing env env.DB_FILE "
        "(set DB_FILE, or give a default: {{env.DB_FILE:default}}) [line 9]"
    ]
    assert "Traceback" not in result.stderr
    _nothing_happened(flow, marker)


def test_an_unset_env_in_a_later_jobs_step_input_stops_the_run_before_the_first_job(tmp_path: Path) -> None:
    flow, marker = _flow(tmp_path)
    env = _env(tmp_path)
    del env["TABLE"]

    result = flow.run(env=env)

    assert result.code == 2, result.stderr
    [line] = _errors(result.stderr)
    assert line.startswith("- jobs[1].steps[0].inputs.sql: semantic:missing_env - Missing env env.TABLE (")
    assert line.endswith("[line 26]")
    _nothing_happened(flow, marker)


def test_an_empty_value_counts_as_unset(tmp_path: Path) -> None:
    flow, marker = _flow(tmp_path)

    result = flow.run(env=_env(tmp_path, TABLE=""))

    assert result.code == 2
    [line] = _errors(result.stderr)
    assert line.startswith("- jobs[1].steps[0].inputs.sql: semantic:missing_env - Missing env env.TABLE (")
    _nothing_happened(flow, marker)


def test_a_default_passes_the_preflight(tmp_path: Path) -> None:
    flow, marker = _flow(tmp_path, FLOW.replace("{{{{env.TABLE}}}}", "{{{{env.TABLE:sales}}}}"))
    env = _env(tmp_path)
    del env["TABLE"]

    result = flow.run(env=env)

    assert result.code == 0, result.stderr
    assert marker.exists()
    assert flow.query("SELECT status FROM runs") == [("SUCCESS",)]


def test_an_env_var_read_only_by_a_resource_no_step_uses_is_not_required(tmp_path: Path) -> None:
    flow, marker = _flow(tmp_path)  # SPARE_DB_FILE is unset: nothing uses ``spare``

    result = flow.run(env=_env(tmp_path))

    assert result.code == 0, result.stderr
    assert marker.exists()
    assert flow.query("SELECT status FROM runs") == [("SUCCESS",)]


def test_with_flow_job_only_that_jobs_needs_count(tmp_path: Path) -> None:
    flow, marker = _flow(tmp_path)
    env = _env(tmp_path)
    del env["DB_FILE"], env["TABLE"]  # needed by ``later`` only

    first = flow.run("--flow-job", "first", env=env)
    later = flow.run("--flow-job", "later", run_id="r2", env=env)

    assert first.code == 0, first.stderr
    assert marker.exists()
    assert later.code == 2
    assert [line.split(":")[0] for line in _errors(later.stderr)] == [
        "- resources.warehouse.config.path",
        "- jobs[1].steps[0].inputs.sql",
    ]
    assert flow.query("SELECT run_id FROM runs") == [("r1",)]


def test_a_value_from_an_env_file_satisfies_the_preflight(tmp_path: Path) -> None:
    flow, marker = _flow(tmp_path)
    env = _env(tmp_path)
    del env["TABLE"]
    env_file = tmp_path / "app.env"
    env_file.write_text("export TABLE='sales'\n", encoding="utf-8")

    result = flow.run(env={**env, "AETHERFLOW_ENV_FILES": json.dumps([str(env_file)])})

    assert result.code == 0, result.stderr
    assert marker.exists()


def test_a_missing_env_in_the_flow_block_stops_the_run_as_missing_env(tmp_path: Path) -> None:
    flow, marker = _flow(tmp_path, FLOW.replace("flow: {{id: pre}}", 'flow: {{id: "{{{{env.FLOW_ID}}}}"}}'))

    result = flow.run(env=_env(tmp_path))

    assert result.code == 2
    [line] = _errors(result.stderr)
    assert line.startswith("- flow.id: semantic:missing_env - Missing env env.FLOW_ID (")
    assert "template:missing_key" not in result.stderr
    _nothing_happened(flow, marker)


def test_the_container_entrypoint_stops_with_exit_2_and_the_invalid_termination_message(tmp_path: Path) -> None:
    flow, marker = _flow(tmp_path)
    env = _env(tmp_path)
    del env["TABLE"]
    termination = tmp_path / "termination-log"
    termination.touch()  # Kubernetes creates it; the runner writes only an existing file

    result = aetherflow(
        "container",
        env={
            **env,
            "AETHERFLOW_FLOW_FILE": str(flow.flow),
            "AETHERFLOW_STATE_PATH": str(flow.state),
            "AETHERFLOW_WORK_ROOT": str(flow.work),
            "AETHERFLOW_TERMINATION_LOG": str(termination),
        },
    )

    assert result.code == 2, result.stderr
    message = json.loads(termination.read_text())
    assert message["status"] == "INVALID" and message["exit_code"] == 2 and message["retryable"] is None
    assert message["error"].startswith("jobs[1].steps[0].inputs.sql: semantic:missing_env - Missing env env.TABLE (")
    _nothing_happened(flow, marker)


def test_hostile_names_are_reported_and_secret_values_are_never_printed(tmp_path: Path) -> None:
    secret = "s3cr'et\"-ü-\\-value"
    text = FLOW.replace("{{{{env.TABLE}}}}", "{{{{env.DB_PASSWORD}}}}{{{{env.ПАРОЛЬ_ü}}}}")
    flow, marker = _flow(tmp_path, text)
    env = _env(tmp_path, DB_PASSWORD=secret)

    result = flow.run(env=env)

    assert result.code == 2
    [line] = _errors(result.stderr)
    assert "Missing env env.ПАРОЛЬ_ü (set ПАРОЛЬ_ü, or give a default" in line
    assert secret not in result.stdout + result.stderr
    _nothing_happened(flow, marker)
