"""Secrets hidden inside ordinary values never leave the process: URL passwords, auth headers, basic pairs, PEM keys.

Each test hands the value to a real ``aetherflow run`` the way a deployment does (an env var rendered into a
resource, a setting, a secret env file) and makes a child print it, store it and fail with it; then every channel
(run logs in JSON and text, every column of the state database, ``runs show``, ``explain``, the termination message)
is searched for the secret part.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import sqlite3
import sys
import textwrap
from pathlib import Path
from urllib.parse import quote

from tests.support.cli import CliResult, FlowRun, aetherflow, make_flow

# a password with characters that must be percent-encoded in a URL and escaped in JSON
PASSWORD = 'Pw"x\\y z@1/2'
DB_URL = f"postgresql://etl:{quote(PASSWORD, safe='')}@db.internal:5432/warehouse"
BASIC = base64.b64encode(f"etl:{PASSWORD}".encode()).decode()
PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
    "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n"
    "-----END PRIVATE KEY-----\n"
)

URL_JOBS = """
version: 1
flow: {id: urls}
resources:
  pg: {kind: db, driver: sqlalchemy, config: {url: "{{env.DB_URL}}"}}
  api:
    kind: rest
    driver: http
    config: {base_url: "http://127.0.0.1:9", headers: {Authorization: "{{env.API_AUTH}}"}}
jobs:
  - id: keep
    steps:
      - id: store
        type: external.process
        inputs:
          command: ["/bin/sh", "-c", 'printf "%s\\n" "$@"', "sh", "{{env.DB_URL}}", "{{env.PLAIN_PW}}",
                    "{{env.PLAIN_BASIC}}", "{{env.API_TOKEN_PART}}"]
          log: {stdout: capture, stderr: capture}
        outputs: {url: "{{env.DB_URL}}", auth: "{{env.API_AUTH}}"}
  - id: fail
    depends_on: [keep]
    steps:
      - id: echo_and_fail
        type: external.process
        inputs:
          command: ["/bin/sh", "-c", 'echo "connecting $1"; echo "$2 rejected" >&2; exit 3', "sh",
                    "{{env.DB_URL}}", "{{env.PLAIN_PW}}"]
          log: {stdout: capture, stderr: capture}
"""


def _state_dump(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(repr(row) for table in tables for row in conn.execute(f'SELECT * FROM "{table}"'))


def _channels(flow: FlowRun, run: CliResult, env: dict[str, str], termination: Path) -> dict[str, str]:
    show_json = aetherflow("runs", "show", "r1", "--state", str(flow.state), "--json", env=env)
    show_text = aetherflow("runs", "show", "r1", "--state", str(flow.state), env=env)
    explain = aetherflow("explain", "--flow-yaml", str(flow.flow), env=env)
    explain_json = aetherflow("explain", "--flow-yaml", str(flow.flow), "--json", env=env)
    assert show_json.code == 0, show_json.stderr
    assert explain.code == 0, explain.stdout + explain.stderr
    return {
        "run stdout": run.stdout,
        "run stderr": run.stderr,
        "state database": _state_dump(flow.state),
        "runs show --json": show_json.stdout + show_json.stderr,
        "runs show": show_text.stdout + show_text.stderr,
        "explain": explain.stdout + explain.stderr,
        "explain --json": explain_json.stdout + explain_json.stderr,
        "termination message": termination.read_text(),
    }


def _assert_absent(channels: dict[str, str], *secrets: str) -> None:
    for channel, text in channels.items():
        for secret in secrets:
            for form in {secret, json.dumps(secret)[1:-1], quote(secret, safe="")}:
                assert form not in text, f"{secret!r} leaked into {channel}"


def _url_env(tmp_path: Path, **extra: str) -> tuple[dict[str, str], Path]:
    termination = tmp_path / "termination-log"
    termination.write_text("")
    env = {
        "DB_URL": DB_URL,
        "API_AUTH": f"Basic {BASIC}",
        # the same secrets under harmless names: the redactor must know them from the URL and the header alone
        "PLAIN_PW": PASSWORD,
        "PLAIN_BASIC": BASIC,
        "API_TOKEN_PART": BASIC,
        "AETHERFLOW_TERMINATION_LOG": str(termination),
        **extra,
    }
    return env, termination


def test_a_url_password_and_an_authorization_header_are_masked_in_every_channel(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, URL_JOBS)
    env, termination = _url_env(tmp_path)

    run = flow.run(env=env)

    assert run.code == 1, run.stderr
    channels = _channels(flow, run, env, termination)
    _assert_absent(channels, PASSWORD, BASIC)
    show = json.loads(channels["runs show --json"])
    assert show["jobs"]["keep"]["outputs"] == {
        "url": "postgresql://etl:***@db.internal:5432/warehouse",
        "auth": "***",
    }
    assert "connecting postgresql://etl:***@db.internal:5432/warehouse" in channels["run stderr"]
    assert "db.internal" in channels["explain"]  # only the password is hidden, the host stays readable
    for line in run.stderr.splitlines():
        json.loads(line)  # every JSON log line stays valid


def test_text_logs_mask_url_passwords_and_stay_one_line_per_event(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, URL_JOBS)
    env, _ = _url_env(tmp_path, AETHERFLOW_LOG_FORMAT="text")

    run = flow.run(env=env)

    assert run.code == 1, run.stderr
    _assert_absent({"run stderr": run.stderr}, PASSWORD, BASIC)
    stderr_lines = [line for line in run.stderr.splitlines() if " external_process_stderr " in line]
    assert stderr_lines and stderr_lines[0].endswith('message="*** rejected"')


def test_a_pushgateway_url_password_is_masked_from_the_first_log_line(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on: every push fails and is logged
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gateway_password = "gw-Pa55word"
    flow = make_flow(
        tmp_path,
        """
        version: 1
        flow: {id: pushing}
        jobs:
          - id: j
            steps:
              - id: s
                type: external.process
                inputs:
                  command: ["/bin/sh", "-c", 'echo "$1"', "sh", "{{env.LEAK}}"]
                  log: {stdout: capture}
        """,
    )
    env = {
        "AETHERFLOW_PUSHGATEWAY_URL": f"http://metrics:{gateway_password}@127.0.0.1:{port}",
        "AETHERFLOW_PUSHGATEWAY_ATTEMPTS": "1",
        "LEAK": gateway_password,
    }

    run = flow.run(env=env)

    assert run.code == 0, run.stderr
    assert gateway_password not in run.stderr
    assert base64.b64encode(f"metrics:{gateway_password}".encode()).decode() not in run.stderr
    assert [e["message"] for e in run.event("external_process_stdout")] == ["***"]


def test_a_pem_key_from_a_secret_env_file_is_masked_line_by_line_in_process_output(tmp_path: Path) -> None:
    mounted = tmp_path / "mounted"
    mounted.mkdir()
    (mounted / "TLS_KEY").write_text(PEM)
    flow = make_flow(
        tmp_path,
        """
        version: 1
        flow: {id: pem}
        jobs:
          - id: j
            steps:
              - id: s
                type: external.process
                inputs:
                  command: ["/bin/sh", "-c", 'printf "%s" "$1"', "sh", "{{env.TLS_KEY}}"]
                  log: {stdout: capture}
        """,
    )

    run = flow.run(env={"AETHERFLOW_ENV_FILES": json.dumps([str(mounted)])})

    assert run.code == 0, run.stderr
    lines = [e["message"] for e in run.event("external_process_stdout")]
    assert lines == ["-----BEGIN PRIVATE KEY-----", "***", "***", "-----END PRIVATE KEY-----"]
    assert all(line not in run.stderr + _state_dump(flow.state) for line in PEM.splitlines()[1:3])


def test_truncating_captured_output_never_leaves_the_beginning_of_a_secret(tmp_path: Path) -> None:
    secret = "tRuNcAtEd-SeCrEt-" + "z" * 40
    # the secret starts 10 bytes before the 1 KiB capture limit
    flow = make_flow(
        tmp_path,
        """
        version: 1
        flow: {id: trunc}
        jobs:
          - id: j
            steps:
              - id: s
                type: external.process
                inputs:
                  command: ["/bin/sh", "-c", 'printf "%01014d%s\\n" 0 "$1"', "sh", "{{env.API_SECRET}}"]
                  log: {stdout: capture, max_capture_kb: 1}
                outputs: {out: "{{steps.s.stdout}}"}
        """,
    )

    run = flow.run(env={"API_SECRET": secret})

    assert run.code == 0, run.stderr
    stored = flow.show()["jobs"]["j"]["outputs"]["out"]
    assert stored == "0" * 1014
    assert secret[:10] not in _state_dump(flow.state)


# 64 KiB + 100 bytes of a line, then the secret's first 5 characters, a pause, and the rest of the line
SPLIT_WRITER = (
    "import sys, time\n"
    "out, secret = sys.stdout.buffer, sys.argv[1].encode()\n"
    "out.write(b'0' * 65636 + secret[:5]); out.flush(); time.sleep(0.5)\n"
    "out.write(secret[5:] + b'0' * 100 + b'\\n'); out.flush()\n"
)


def test_a_line_longer_than_the_line_limit_is_split_outside_a_secret(tmp_path: Path) -> None:
    secret = "lOnG-LiNe-SeCrEt-" + "q" * 40
    flow = make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: longline}}
        jobs:
          - id: j
            steps:
              - id: s
                type: external.process
                inputs:
                  command: [{json.dumps(sys.executable)}, "-c", {json.dumps(SPLIT_WRITER)}, "{{{{env.API_SECRET}}}}"]
                  log: {{stdout: capture, max_capture_kb: 1}}
        """,
    )

    run = flow.run(env={"API_SECRET": secret})

    assert run.code == 0, run.stderr
    pieces = [e["message"] for e in run.event("external_process_stdout")]
    assert pieces == ["0" * 65536, "0" * 100 + "***" + "0" * 100]


def test_a_git_bundle_url_password_is_masked_in_the_sync_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    git_password = "g1t-Pa55word"
    manifest = tmp_path / "bundle.yaml"
    manifest.write_text(
        textwrap.dedent(
            f"""
            bundle:
              id: gitb
              source: {{type: git, url: "http://deploy:{git_password}@127.0.0.1:{port}/repo.git"}}
              layout: {{profiles_file: profiles.yaml}}
            """
        )
    )

    sync = aetherflow("bundle", "sync", "--bundle-manifest", str(manifest), "--work-root", str(tmp_path / "w"))

    assert sync.code != 0
    assert git_password not in sync.stdout + sync.stderr
    written = [p.read_text(errors="replace") for p in (tmp_path / "w").rglob("*") if p.is_file()]
    assert all(git_password not in text for text in written)


METRICS_HOOK = """
import json, os


class _Recorder:
    def on_job_end(self, **kwargs):
        with open(os.environ["HOOK_LOG"], "a") as out:
            out.write(json.dumps(kwargs) + "\\n")

    on_run_end = on_job_end


METRICS = _Recorder()
"""


def test_a_metrics_hook_receives_masked_fields(tmp_path: Path) -> None:
    (tmp_path / "leaky_metrics.py").write_text(METRICS_HOOK)
    flow = make_flow(tmp_path, URL_JOBS)
    hook_log = tmp_path / "hook.jsonl"
    env, _ = _url_env(
        tmp_path,
        AETHERFLOW_METRICS_MODULE="leaky_metrics",
        HOOK_LOG=str(hook_log),
        PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
    )

    run = flow.run(env=env)

    assert run.code == 1, run.stderr
    received = hook_log.read_text()
    assert "*** rejected" in received  # the failed job's error reached the hook, masked
    _assert_absent({"metrics hook": received}, PASSWORD, BASIC)
