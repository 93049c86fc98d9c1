"""A canary secret never leaves the process unmasked (resources-and-profiles.md §7, observability.md §4).

Each test makes the canary a secret through one of the spec's registration routes (a secret-named profile key, a
decoded value, a secret env file, a secret-pattern env name), hands the same value to steps under a harmless env
name, and makes them print it (raw, URL-encoded, base64), store it as an output, and fail with it in the error.
Then every channel is searched: run logs, every column of every state table, ``runs show``, ``explain``,
``validate``, ``doctor`` and the termination message. The child also writes the value to a file (files are
not redacted), which proves it really received the canary: its absence elsewhere is the redaction at work.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import textwrap
import uuid
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from tests.support.cli import CliResult, FlowRun, aetherflow, make_flow

LEAKY_JOBS = """
jobs:
  - id: keep
    steps:
      - id: store
        type: external.process
        inputs:
          command:
            - /bin/sh
            - -c
            - 'printf "%s" "$1" > "$5"; printf "%s\\n" "$1" "$2" "$3" "$4"'
            - sh
            - "{{{{env.{var}}}}}"
            - "{{{{env.LEAK_QUOTED}}}}"
            - "{{{{env.LEAK_PLUS}}}}"
            - "{{{{env.LEAK_B64}}}}"
            - "{{{{env.SEEN_FILE}}}}"
          log: {{stdout: capture, stderr: capture}}
        outputs: {{kept: "{{{{env.{var}}}}}", kept_b64: "{{{{env.LEAK_B64}}}}"}}
  - id: fail
    depends_on: [keep]
    steps:
      - id: echo_and_fail
        type: external.process
        inputs:
          command: ["/bin/sh", "-c", 'echo "leaking $1 $2"; echo "$1 $3" >&2; exit 3', "sh",
                    "{{{{env.{var}}}}}", "{{{{env.LEAK_QUOTED}}}}", "{{{{env.LEAK_B64}}}}"]
          log: {{stdout: capture, stderr: capture}}
  - id: crash
    depends_on: [keep]
    steps:
      - id: exec_missing
        type: external.process
        inputs:
          command: ["/nonexistent/{{{{env.{var}}}}}"]
"""

HOOK = """
import base64


def decode(value):
    return base64.b64decode(value.removeprefix("enc:")).decode()
"""


def _canary() -> str:
    # space, '+', '/' and '=' make the URL-encoded and base64 forms differ from the raw value
    return f"cAnArY {uuid.uuid4().hex[:10]}+x/y="


def _forms(canary: str) -> dict[str, str]:
    return {
        "raw": canary,
        "quote": quote(canary, safe=""),
        "quote_plus": quote_plus(canary),
        "base64": base64.b64encode(canary.encode()).decode(),
    }


def _leak_env(canary: str) -> dict[str, str]:
    """The encoded forms under harmless names (the redactor must know them from the secret itself)."""
    forms = _forms(canary)
    return {"LEAK_QUOTED": forms["quote"], "LEAK_PLUS": forms["quote_plus"], "LEAK_B64": forms["base64"]}


def _flow(tmp_path: Path, resources: str, var: str = "LEAK", flow_id: str = "leaky") -> FlowRun:
    head = f"version: 1\nflow: {{id: {flow_id}}}\n" + textwrap.dedent(resources)
    return make_flow(tmp_path, head + LEAKY_JOBS.format(var=var))


def _state_dump(path: Path) -> str:
    """Every column of every row of every table, as text."""
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(repr(row) for table in tables for row in conn.execute(f'SELECT * FROM "{table}"'))


def _channels(flow: FlowRun, result: CliResult, env: dict[str, str], termination: Path) -> dict[str, str]:
    """Every output channel of the run and of the inspection commands on the same flow and env."""
    show_json = aetherflow("runs", "show", "r1", "--state", str(flow.state), "--json", env=env)
    show_text = aetherflow("runs", "show", "r1", "--state", str(flow.state), env=env)
    explain = aetherflow("explain", "--flow-yaml", str(flow.flow), env=env)
    explain_json = aetherflow("explain", "--flow-yaml", str(flow.flow), "--json", env=env)
    validate = aetherflow("validate", "--flow-yaml", str(flow.flow), env=env)
    doctor = aetherflow("doctor", "--flow-yaml", str(flow.flow), env=env)
    assert show_json.code == 0, show_json.stderr
    assert explain.code == 0, explain.stdout + explain.stderr
    return {
        "run stdout": result.stdout,
        "run stderr": result.stderr,
        "state database": _state_dump(flow.state),
        "runs show --json": show_json.stdout + show_json.stderr,
        "runs show": show_text.stdout + show_text.stderr,
        "explain": explain.stdout + explain.stderr,
        "explain --json": explain_json.stdout + explain_json.stderr,
        "validate": validate.stdout + validate.stderr,
        "doctor": doctor.stdout + doctor.stderr,
        "termination message": termination.read_text(),
    }


def _run_and_check(flow: FlowRun, canary: str, env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    termination = tmp_path / "termination-log"
    termination.write_text("")
    seen = tmp_path / "seen.txt"
    env = {**env, **_leak_env(canary), "AETHERFLOW_TERMINATION_LOG": str(termination), "SEEN_FILE": str(seen)}

    result = flow.run(env=env)

    assert result.code == 1, result.stderr
    assert seen.read_text() == canary  # the child really got the value
    channels = _channels(flow, result, env, termination)
    for channel, text in channels.items():
        for form, value in _forms(canary).items():
            assert value not in text, f"{form} form of the canary leaked into {channel}"
    # the channels did carry the value, masked
    assert "***" in channels["run stderr"]
    assert "***" in channels["state database"]
    show = json.loads(channels["runs show --json"])
    assert show["jobs"]["keep"]["outputs"] == {"kept": "***", "kept_b64": "***"}
    crash = "FileNotFoundError: [Errno 2] No such file or directory: '/nonexistent/***'"
    assert show["jobs"]["crash"]["error"] == crash
    assert show["jobs"]["fail"]["steps"]["echo_and_fail"]["error"].endswith("\n*** ***\n")
    failed = json.loads(channels["termination message"])["failed"]
    assert {"job_id": "crash", "step_id": "exec_missing", "error": crash} in failed
    return channels


def test_a_secret_named_profile_key_is_redacted_everywhere(tmp_path: Path) -> None:
    canary = _canary()
    profiles = tmp_path / "profiles.yaml"
    profiles.write_text(f'outbound:\n  config:\n    host: 127.0.0.1\n    password: "{canary}"\n', encoding="utf-8")
    flow = _flow(tmp_path, "resources:\n  mailer: {kind: mail, driver: smtp, profile: outbound}\n")

    channels = _run_and_check(flow, canary, {"AETHERFLOW_PROFILES_FILE": str(profiles), "LEAK": canary}, tmp_path)

    assert "  config keys: host=127.0.0.1 (profile), password=*** (profile)" in channels["explain"].splitlines()


def test_a_secret_named_resource_key_rendered_from_a_plain_env_name_is_redacted(tmp_path: Path) -> None:
    canary = _canary()
    flow = _flow(
        tmp_path,
        """
        resources:
          api:
            kind: rest
            driver: http
            config: {base_url: "http://127.0.0.1:9", bearer_token: "{{env.LEAK}}"}
        """,
    )

    _run_and_check(flow, canary, {"LEAK": canary}, tmp_path)


def test_a_decoded_value_is_redacted_everywhere(tmp_path: Path) -> None:
    canary = _canary()
    hook = tmp_path / "hook.py"
    hook.write_text(HOOK, encoding="utf-8")
    encoded = "enc:" + base64.b64encode(canary.encode()).decode()
    flow = _flow(
        tmp_path,
        """
        resources:
          mailer:
            kind: mail
            driver: smtp
            config: {host: 127.0.0.1, username: "{{env.ENC_USER}}"}
            decode: {config: {username: true}}
        """,
    )
    # a step names the mailer, so the run decodes it (a resource no step uses is never decoded); the job is skipped
    flow.flow.write_text(
        flow.flow.read_text(encoding="utf-8")
        + "  - id: notify\n    depends_on: [keep]\n    when: \"jobs.keep.status == 'FAILED'\"\n    steps:\n"
        + "      - {id: mail, type: mail_send, inputs: {resource: mailer, to: a@example.test, subject: s, body: b}}\n",
        encoding="utf-8",
    )

    channels = _run_and_check(
        flow, canary, {"AETHERFLOW_SECRETS_PATH": str(hook), "ENC_USER": encoded, "LEAK": canary}, tmp_path
    )

    # the raw (encoded) value is a secret too
    assert all(encoded not in text for text in channels.values())


@pytest.mark.parametrize("form", ["dir", "dotenv", "json-list-secret"])
def test_a_value_from_a_secret_env_file_is_redacted_everywhere(tmp_path: Path, form: str) -> None:
    canary = _canary()
    mounted = tmp_path / "mounted"
    mounted.mkdir()
    if form == "dir":
        (mounted / "LEAK").write_text(canary + "\n")
        env = {"AETHERFLOW_ENV_FILES": json.dumps([str(mounted)])}
    elif form == "dotenv":
        (mounted / "app.env").write_text(f'LEAK="{canary}"\n')
        env = {"AETHERFLOW_ENV_FILES": json.dumps([str(mounted / "app.env")])}
    else:
        (mounted / "app.env").write_text(f"LEAK={canary}\n")
        env = {"AETHERFLOW_ENV_FILES_JSON": json.dumps([{"path": str(mounted / "app.env"), "secret": True}])}
    flow = _flow(tmp_path, "resources: {}\n")

    _run_and_check(flow, canary, env, tmp_path)


@pytest.mark.parametrize(
    ("var", "extra"),
    [("SERVICE_TOKEN", {}), ("DB_Password", {}), ("LEAKY_THING", {"AETHERFLOW_SECRET_PATTERNS": "*leaky*"})],
)
def test_an_env_value_with_a_secret_name_is_redacted_everywhere(
    tmp_path: Path, var: str, extra: dict[str, str]
) -> None:
    canary = _canary()
    flow = _flow(tmp_path, "resources: {}\n", var=var)

    _run_and_check(flow, canary, {var: canary, **extra}, tmp_path)


@pytest.mark.parametrize("route", ["secret-name", "secret-env-file"])
def test_validation_messages_and_the_invalid_termination_message_are_redacted(tmp_path: Path, route: str) -> None:
    canary = _canary()  # its space and '/' make it an invalid flow id
    if route == "secret-name":
        var, env = "FLOW_SECRET", {"FLOW_SECRET": canary}
    else:
        (tmp_path / "id.env").write_text(f"FLOW_NAME={canary}\n")
        var, env = "FLOW_NAME", {"AETHERFLOW_ENV_FILES": json.dumps([str(tmp_path / "id.env")])}
    termination = tmp_path / "termination-log"
    termination.write_text("")
    flow = _flow(tmp_path, "resources: {}\n", var="LEAK", flow_id=f'"{{{{env.{var}}}}}"')
    env = {
        **env,
        "LEAK": "harmless",
        "SEEN_FILE": str(tmp_path / "seen.txt"),
        **_leak_env(canary),
        "AETHERFLOW_TERMINATION_LOG": str(termination),
    }

    run = flow.run(env=env)
    validate = aetherflow("validate", "--flow-yaml", str(flow.flow), env=env)
    validate_json = aetherflow("validate", "--flow-yaml", str(flow.flow), "--json", env=env)
    doctor = aetherflow("doctor", "--flow-yaml", str(flow.flow), env=env)
    explain = aetherflow("explain", "--flow-yaml", str(flow.flow), env=env)

    assert (run.code, validate.code, validate_json.code, doctor.code, explain.code) == (2, 2, 2, 2, 2)
    outputs = {
        "run": run.stdout + run.stderr,
        "validate": validate.stdout + validate.stderr,
        "validate --json": validate_json.stdout + validate_json.stderr,
        "doctor": doctor.stdout + doctor.stderr,
        "explain": explain.stdout + explain.stderr,
        "termination message": termination.read_text(),
    }
    for channel, text in outputs.items():
        for form, value in _forms(canary).items():
            assert value not in text, f"{form} form of the canary leaked into {channel}"
        assert "Invalid id '***'" in text, channel
    assert not flow.state.exists()
