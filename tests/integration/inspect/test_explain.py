"""``aetherflow explain`` (cli.md §6): attribution, masking, env reads, decode map, the plan; it connects nowhere."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from tests.support.cli import aetherflow, write_flow

PROFILES = """
warehouse:
  config:
    url: "{{env.DWH_URL}}"
    user: etl
    password: "{{env.DWH_PASSWORD}}"
  options:
    pool: {size: 4, pre_ping: true}
    cache: run
  decode:
    config_paths: [password]
"""

FLOW = """
version: 1
flow:
  id: xp
  locks: {scope: job}
resources:
  dwh:
    kind: db
    driver: sqlalchemy
    profile: warehouse
    config:
      url: "{{env.DWH_URL}}"
    options:
      pool: {size: 8}
    decode:
      config: {url: true}
  api:
    kind: rest
    driver: http
    config:
      base_url: "https://api.example/{{env.API_VERSION}}"
      bearer_token: "{{env.API_TOKEN}}"
      headers: {X-Trace: "on"}
    options:
      timeout: 5
  files:
    kind: archive
    driver: zipfile
jobs:
  - id: load
    depends_on: [extract]
    when: "jobs.extract.status == 'SUCCESS'"
    steps: []
  - id: extract
    steps: []
  - id: report
    depends_on: [load, extract]
    steps: []
"""

ENV = {
    "DWH_URL": "postgresql+psycopg://etl:url-Pa55@db:5432/sales",
    "DWH_PASSWORD": "dwh-Pa55word",
    "API_TOKEN": "tok-123456",
}


def _setup(tmp_path: Path, flow_text: str = FLOW) -> tuple[Path, dict[str, str]]:
    flow = write_flow(tmp_path, flow_text)
    profiles = tmp_path / "profiles.yaml"
    profiles.write_text(PROFILES, encoding="utf-8")
    return flow, {**ENV, "AETHERFLOW_PROFILES_FILE": str(profiles)}


def test_text_layout_attributes_masks_and_orders(tmp_path: Path) -> None:
    flow, env = _setup(tmp_path)

    result = aetherflow("explain", "--flow-yaml", str(flow), env=env)

    assert result.code == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        f"Flow: {flow}",
        "",
        "Resource: dwh (db/sqlalchemy) profile=warehouse",
        "  config keys: password=*** (profile), url=*** (resource), user=etl (profile)",
        '  options keys: cache=run (profile), pool={"pre_ping": true, "size": 8} (resource)',
        "  env: DWH_PASSWORD, DWH_URL",
        "  decode:",
        '    {"config": {"url": true}, "config_paths": ["password"]}',
        "",
        "Resource: api (rest/http) profile=None",
        "  config keys: base_url=<missing API_VERSION> (resource), bearer_token=*** (resource), "
        'headers={"X-Trace": "on"} (resource)',
        "  options keys: timeout=5 (resource)",
        "  env: API_TOKEN, API_VERSION",
        "  decode:",
        "    {}",
        "",
        "Resource: files (archive/zipfile) profile=None",
        "  config keys: -",
        "  options keys: -",
        "  env: -",
        "  decode:",
        "    {}",
        "",
        "Plan:",
        "  1. extract depends_on=[] when=- lock=job:xp:extract",
        "  2. load depends_on=[extract] when=jobs.extract.status == 'SUCCESS' lock=job:xp:load",
        "  3. report depends_on=[load, extract] when=- lock=job:xp:report",
    ]
    for secret in ENV.values():
        assert secret not in result.stdout + result.stderr
    assert "Missing env env.API_VERSION" in result.stderr  # validation warnings go to stderr


def test_json_shape(tmp_path: Path) -> None:
    flow, env = _setup(tmp_path)

    result = aetherflow("explain", "--flow-yaml", str(flow), "--json", env={**env, "API_VERSION": "v2"})

    assert result.code == 0, result.stdout + result.stderr
    assert result.stdout.count("\n") == 1
    doc = json.loads(result.stdout)
    assert list(doc) == ["flow_yaml", "flow_id", "resources", "plan"]
    assert doc == {
        "flow_yaml": str(flow),
        "flow_id": "xp",
        "resources": {
            "dwh": {
                "kind": "db",
                "driver": "sqlalchemy",
                "profile": "warehouse",
                "config_keys": {"password": "profile", "url": "resource", "user": "profile"},
                "options_keys": {"cache": "profile", "pool": "resource"},
                "env_keys": ["DWH_PASSWORD", "DWH_URL"],
                "decode": {"config": {"url": True}, "config_paths": ["password"]},
            },
            "api": {
                "kind": "rest",
                "driver": "http",
                "profile": None,
                "config_keys": {"base_url": "resource", "bearer_token": "resource", "headers": "resource"},
                "options_keys": {"timeout": "resource"},
                "env_keys": ["API_TOKEN", "API_VERSION"],
                "decode": {},
            },
            "files": {
                "kind": "archive",
                "driver": "zipfile",
                "profile": None,
                "config_keys": {},
                "options_keys": {},
                "env_keys": [],
                "decode": {},
            },
        },
        "plan": [
            {"job_id": "extract", "depends_on": [], "when": None, "lock": "job:xp:extract"},
            {
                "job_id": "load",
                "depends_on": ["extract"],
                "when": "jobs.extract.status == 'SUCCESS'",
                "lock": "job:xp:load",
            },
            {"job_id": "report", "depends_on": ["load", "extract"], "when": None, "lock": "job:xp:report"},
        ],
    }
    assert list(doc["resources"]) == ["dwh", "api", "files"]
    assert list(doc["resources"]["dwh"]) == [
        "kind",
        "driver",
        "profile",
        "config_keys",
        "options_keys",
        "env_keys",
        "decode",
    ]


def test_the_locks_scope_setting_overrides_the_flow(tmp_path: Path) -> None:
    flow, env = _setup(tmp_path)

    flow_scope = aetherflow("explain", "--flow-yaml", str(flow), env={**env, "AETHERFLOW_LOCKS_SCOPE": "flow"})
    no_scope = aetherflow("explain", "--flow-yaml", str(flow), env={**env, "AETHERFLOW_LOCKS_SCOPE": "none"})

    assert [line for line in flow_scope.stdout.splitlines() if line.startswith("  1. ")] == [
        "  1. extract depends_on=[] when=- lock=flow:xp"
    ]
    assert [line for line in no_scope.stdout.splitlines() if line.startswith("  3. ")] == [
        "  3. report depends_on=[load, extract] when=- lock=-"
    ]


def test_a_resource_value_over_a_profile_value_is_attributed_to_the_resource(tmp_path: Path) -> None:
    # (db:sqlalchemy reads only ``url`` of its config: the flow may not set ``user``)
    flow, env = _setup(tmp_path, FLOW.replace('      url: "{{env.DWH_URL}}"\n', "      url: sqlite://\n"))

    result = aetherflow("explain", "--flow-yaml", str(flow), "--json", env=env)

    assert json.loads(result.stdout)["resources"]["dwh"]["config_keys"] == {
        "password": "profile",
        "url": "resource",
        "user": "profile",
    }


def test_secret_env_file_values_and_secret_env_names_are_masked(tmp_path: Path) -> None:
    secrets = tmp_path / "mounted-secret"
    secrets.mkdir()
    (secrets / "SMTP_HOST").write_text("smtp-from-secret.internal\n")
    flow, env = _setup(
        tmp_path,
        """
        version: 1
        flow: {id: masks}
        resources:
          mailer:
            kind: mail
            driver: smtp
            config:
              host: "{{env.SMTP_HOST}}"
              from_addr: "ops+{{env.SIGNING_KEY_ID}}@example.com"
              port: 2525
        jobs: []
        """,
    )
    env.update(AETHERFLOW_ENV_FILES=json.dumps([str(secrets)]), SIGNING_KEY_ID="key-0042")

    result = aetherflow("explain", "--flow-yaml", str(flow), env=env)

    assert result.code == 0, result.stdout + result.stderr
    assert "  config keys: from_addr=ops+***@example.com (resource), host=*** (resource), port=2525 (resource)" in (
        result.stdout.splitlines()
    )
    assert "smtp-from-secret" not in result.stdout
    assert "key-0042" not in result.stdout


def test_an_invalid_flow_is_reported_like_validate(tmp_path: Path) -> None:
    flow, env = _setup(tmp_path, FLOW.replace("depends_on: [extract]", "depends_on: [extrct]"))

    text = aetherflow("explain", "--flow-yaml", str(flow), env=env)
    as_json = aetherflow("explain", "--flow-yaml", str(flow), "--json", env=env)

    assert text.code == 2
    assert text.stdout.splitlines()[:2] == [
        f"INVALID: {flow}",
        "- jobs[0].depends_on: semantic:depends_on_unknown_job - Job 'load' depends_on unknown job: extrct [line 31]",
    ]
    assert as_json.code == 2
    doc = json.loads(as_json.stdout)
    assert list(doc) == ["ok", "errors", "warnings", "flow_yaml"]
    assert doc["ok"] is False


def test_explain_never_connects_nor_decodes(tmp_path: Path) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    marker = tmp_path / "decode-was-called"
    (hooks / "explain_hook_mod.py").write_text(
        "def decode(value):\n"
        f"    open({str(marker)!r}, 'w').close()\n"
        "    return value\n\n\n"
        "def expand_env(env):\n"
        "    return {**env, 'SFTP_PORT': env['LISTEN_PORT']}\n"
    )
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        flow, env = _setup(
            tmp_path,
            """
            version: 1
            flow: {id: quiet}
            resources:
              drop:
                kind: sftp
                driver: paramiko
                config: {host: 127.0.0.1, port: "{{env.SFTP_PORT}}", user: u, password: "{{env.SFTP_PW}}"}
                decode: {config: {password: true}}
            jobs: []
            """,
        )
        env.update(
            PYTHONPATH=str(hooks),
            AETHERFLOW_SECRETS_MODULE="explain_hook_mod",
            LISTEN_PORT=str(port),
            SFTP_PW="enc:abcdef",
        )

        result = aetherflow("explain", "--flow-yaml", str(flow), env=env)

        try:
            listener.accept()
            connected = True
        except BlockingIOError:
            connected = False

    assert result.code == 0, result.stdout + result.stderr
    # the env expanded by the hook is used, the decode target is shown masked without calling the hook
    shown = f"host=127.0.0.1 (resource), password=*** (resource), port={port} (resource), user=u (resource)"
    assert f"  config keys: {shown}" in result.stdout.splitlines()
    assert not marker.exists()
    assert not connected
