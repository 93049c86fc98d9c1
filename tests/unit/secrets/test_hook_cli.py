"""The secrets hook through the real CLI: ``run`` decodes and expands with it, bad hooks stop the run with exit 2."""

from __future__ import annotations

import base64
import textwrap
import uuid
from pathlib import Path

from tests.support.cli import aetherflow, make_flow

CANARY = "hook-cli-canary-Zq81"

HOOK = """
import base64
import os


def decode(value):
    if not value.startswith("enc:"):
        raise ValueError("not an encrypted value: " + value)
    return base64.b64decode(value[4:]).decode()


def expand_env(env):
    calls = env.get("HOOK_CALLS_FILE")
    if calls:
        with open(calls, "a") as handle:
            handle.write("expand_env\\n")
    out = dict(env)
    out["GREETING"] = "hello-" + env.get("BASE_FROM_FILE", "nobody")
    out["FLOW_FROM_HOOK"] = "hooked-flow"
    return out
"""

DECODE_FLOW = """
version: 1
flow: {id: decoding}
resources:
  local:
    kind: db
    driver: sqlite3
    config:
      path: "{{env.ENC_DB_PATH}}"
    decode:
      config: {path: true}
jobs:
  - id: a
    steps:
      - id: q
        type: db_fetch_small
        inputs: {resource: local, sql: "SELECT 1 AS one"}
      - id: echo
        type: external.process
        inputs:
          command: ["/bin/sh", "-c", "echo $1", "sh", "{{env.PLAIN_ECHO}}"]
          log: {stdout: capture, stderr: capture}
        outputs: {echoed: "{{env.PLAIN_ECHO}}"}
"""


def _enc(text: str) -> str:
    return "enc:" + base64.b64encode(text.encode()).decode()


def _hook_module(tmp_path: Path, body: str = HOOK) -> tuple[str, Path]:
    """A uniquely named hook module in its own directory (to put on PYTHONPATH)."""
    directory = tmp_path / "hooks"
    directory.mkdir(exist_ok=True)
    name = f"site_hook_{uuid.uuid4().hex[:8]}"
    (directory / f"{name}.py").write_text(textwrap.dedent(body), encoding="utf-8")
    return name, directory


def test_run_decodes_resource_values_with_the_module_hook(tmp_path: Path) -> None:
    name, directory = _hook_module(tmp_path)
    db_file = tmp_path / "decoded-location.db"
    flow = make_flow(tmp_path, DECODE_FLOW)

    result = flow.run(
        env={
            "PYTHONPATH": str(directory),
            "AETHERFLOW_SECRETS_MODULE": name,
            "ENC_DB_PATH": _enc(str(db_file)),
            "PLAIN_ECHO": str(db_file),
        }
    )

    assert result.code == 0, result.stderr
    assert db_file.is_file()  # the connector received the decoded path
    # the decoded value became a secret: the step that echoes it under a harmless name is masked everywhere
    assert str(db_file) not in result.stderr
    assert flow.query("SELECT promoted_json FROM step_runs WHERE step_id = 'echo'") == [('{"echoed": "***"}',)]


def test_run_decodes_with_the_path_hook(tmp_path: Path) -> None:
    hook_file = tmp_path / "hook.py"
    hook_file.write_text(textwrap.dedent(HOOK), encoding="utf-8")
    db_file = tmp_path / "via-path.db"
    flow = make_flow(tmp_path, DECODE_FLOW)

    result = flow.run(
        env={"AETHERFLOW_SECRETS_PATH": str(hook_file), "ENC_DB_PATH": _enc(str(db_file)), "PLAIN_ECHO": "x"}
    )

    assert result.code == 0, result.stderr
    assert db_file.is_file()


def test_expand_env_is_applied_once_to_the_whole_snapshot(tmp_path: Path) -> None:
    name, directory = _hook_module(tmp_path)
    env_file = tmp_path / "base.env"
    env_file.write_text("BASE_FROM_FILE=from-env-file\n", encoding="utf-8")
    calls = tmp_path / "calls.txt"
    flow = make_flow(
        tmp_path,
        """
        version: 1
        flow: {id: "{{env.FLOW_FROM_HOOK}}"}
        jobs:
          - id: a
            steps:
              - id: greet
                type: external.process
                inputs:
                  command: ["/bin/true"]
                outputs: {greeting: "{{env.GREETING}}"}
        """,
    )

    result = flow.run(
        env={
            "PYTHONPATH": str(directory),
            "AETHERFLOW_SECRETS_MODULE": name,
            "AETHERFLOW_ENV_FILES_JSON": f'["{env_file}"]',
            "HOOK_CALLS_FILE": str(calls),
        }
    )

    assert result.code == 0, result.stderr
    # validation and flow meta saw the expanded env (the flow id), the step saw it, and it read the env file
    assert flow.query("SELECT flow_id FROM runs") == [("hooked-flow",)]
    assert flow.query("SELECT promoted_json FROM step_runs") == [('{"greeting": "hello-from-env-file"}',)]
    assert calls.read_text().splitlines() == ["expand_env"]


def test_validate_sees_the_env_expanded_by_the_hook(tmp_path: Path) -> None:
    name, directory = _hook_module(tmp_path)
    flow = make_flow(
        tmp_path,
        """
        version: 1
        flow: {id: "{{env.FLOW_FROM_HOOK}}"}
        jobs:
          - id: a
            steps:
              - {id: s, type: check_items, inputs: {items: ["{{env.GREETING}}"]}}
        """,
    )

    result = aetherflow(
        "validate",
        "--flow-yaml",
        str(flow.flow),
        env={"PYTHONPATH": str(directory), "AETHERFLOW_SECRETS_MODULE": name},
    )

    assert result.code == 0, result.stdout + result.stderr
    assert result.stdout == f"OK: {flow.flow}\n"


def test_run_refuses_a_hook_with_public_helpers(tmp_path: Path) -> None:
    name, directory = _hook_module(tmp_path, "def decode(value):\n    return value\n\n\ndef helper():\n    return 1\n")
    flow = make_flow(tmp_path, "version: 1\nflow: {id: f}\njobs:\n  - id: a\n    steps: []\n")

    result = flow.run(env={"PYTHONPATH": str(directory), "AETHERFLOW_SECRETS_MODULE": name})

    assert result.code == 2
    assert (
        f"Secrets hook module:{name} defines unsupported public callables: ['helper']. "
        "Only 'decode' and optional 'expand_env' are allowed (helpers must be private, e.g. _helper())."
    ) in result.stderr
    assert not flow.state.exists()


def test_doctor_reports_a_hook_with_public_helpers(tmp_path: Path) -> None:
    name, directory = _hook_module(tmp_path, "def decode(value):\n    return value\n\n\ndef helper():\n    return 1\n")
    flow = make_flow(tmp_path, "version: 1\nflow: {id: f}\njobs:\n  - id: a\n    steps: []\n")

    result = aetherflow(
        "doctor", "--flow-yaml", str(flow.flow), env={"PYTHONPATH": str(directory), "AETHERFLOW_SECRETS_MODULE": name}
    )

    assert result.code == 2
    assert result.stdout.splitlines()[1] == (
        f"- AETHERFLOW_SECRETS_MODULE: settings:invalid - Secrets hook module:{name} defines unsupported public "
        "callables: ['helper']. Only 'decode' and optional 'expand_env' are allowed (helpers must be private, "
        "e.g. _helper())."
    )


def test_a_failing_decode_stops_the_run_with_exit_2_and_a_redacted_message(tmp_path: Path) -> None:
    name, directory = _hook_module(tmp_path)
    flow = make_flow(tmp_path, DECODE_FLOW)
    termination = tmp_path / "termination.log"
    termination.write_text("")

    # not "enc:"-prefixed: the hook raises, quoting the value it was given
    result = flow.run(
        env={
            "PYTHONPATH": str(directory),
            "AETHERFLOW_SECRETS_MODULE": name,
            "ENC_DB_PATH": CANARY,
            "PLAIN_ECHO": "x",
            "AETHERFLOW_TERMINATION_LOG": str(termination),
        }
    )

    assert result.code == 2
    assert f"Secrets hook module:{name} decode() failed: ValueError: not an encrypted value: ***" in result.stderr
    assert CANARY not in result.stderr + result.stdout + termination.read_text()
    assert '"status": "INVALID"' in termination.read_text()
    assert not flow.state.exists()


def test_a_failing_expand_env_stops_the_run_with_exit_2_and_a_redacted_message(tmp_path: Path) -> None:
    name, directory = _hook_module(
        tmp_path,
        "def decode(value):\n    return value\n\n\ndef expand_env(env):\n"
        "    raise RuntimeError('vault refused token ' + env['VAULT_TOKEN'])\n",
    )
    flow = make_flow(tmp_path, "version: 1\nflow: {id: f}\njobs:\n  - id: a\n    steps: []\n")

    result = flow.run(env={"PYTHONPATH": str(directory), "AETHERFLOW_SECRETS_MODULE": name, "VAULT_TOKEN": CANARY})

    assert result.code == 2
    assert f"Secrets hook module:{name} expand_env() failed: RuntimeError: vault refused token ***" in result.stderr
    assert CANARY not in result.stderr + result.stdout
    assert not flow.state.exists()


DECODE_WITHOUT_HOOK = (
    "- resources.local.decode: settings:invalid - Resource 'local' requests decode but no secrets hook is "
    "configured (set AETHERFLOW_SECRETS_MODULE or AETHERFLOW_SECRETS_PATH)"
)


def test_decode_without_a_hook_is_an_input_error(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, DECODE_FLOW)

    result = flow.run(env={"ENC_DB_PATH": _enc(str(tmp_path / "x.db")), "PLAIN_ECHO": "x"})

    assert result.code == 2
    assert f"INVALID: {flow.flow}\n{DECODE_WITHOUT_HOOK}\n" in result.stderr
    assert not flow.state.exists()


def test_validate_reports_decode_without_a_hook_as_run_does(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, DECODE_FLOW)
    env = {"ENC_DB_PATH": _enc(str(tmp_path / "x.db")), "PLAIN_ECHO": "x"}

    validated = aetherflow("validate", "--flow-yaml", str(flow.flow), env=env)
    ran = flow.run(env=env)

    assert (validated.code, ran.code) == (2, 2)
    assert validated.stdout.splitlines() == [f"INVALID: {flow.flow}", DECODE_WITHOUT_HOOK]
    assert DECODE_WITHOUT_HOOK in ran.stderr.splitlines()
