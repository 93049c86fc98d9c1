"""``aetherflow doctor`` (cli.md §5): problems vs warnings, environment checks, text and JSON layouts, exit codes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.cli import aetherflow, write_flow

FLOW = """
version: 1
flow:
  id: doc
  state: {{path: "{state}"}}
resources:
  wh:
    kind: db
    driver: sqlite3
    profile: base
    config:
      path: "{{{{env.DB_FILE}}}}"
jobs:
  - id: a
    steps:
      - {{id: s, type: check_items, inputs: {{items: ["{{{{env.ITEM}}}}"]}}}}
"""

PROFILES = """
base:
  options:
    cache: "{{env.CACHE_MODE}}"
"""


def _setup(tmp_path: Path, *, state: Path | None = None) -> tuple[Path, dict[str, str]]:
    flow = write_flow(tmp_path, FLOW.format(state=state or tmp_path / "state" / "doc.db"))
    profiles = tmp_path / "profiles.yaml"
    profiles.write_text(PROFILES, encoding="utf-8")
    env = {
        "AETHERFLOW_PROFILES_FILE": str(profiles),
        "DB_FILE": str(tmp_path / "wh.db"),
        "ITEM": "x",
        "CACHE_MODE": "none",
    }
    return flow, env


def test_all_set_is_ok_and_exits_zero(tmp_path: Path) -> None:
    flow, env = _setup(tmp_path)

    result = aetherflow("doctor", "--flow-yaml", str(flow), env=env)

    assert result.code == 0, result.stdout + result.stderr
    assert result.stdout == f"OK: {flow}\n"


def _fix(name: str) -> str:
    return f"(set {name}, or give a default: {{{{env.{name}:default}}}})"


def test_missing_env_in_a_used_resource_and_its_profile_are_problems(tmp_path: Path) -> None:
    flow, env = _setup(tmp_path)
    flow.write_text(flow.read_text(encoding="utf-8") + USES_WH, encoding="utf-8")
    del env["DB_FILE"], env["CACHE_MODE"]

    result = aetherflow("doctor", "--flow-yaml", str(flow), env=env)

    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"FAIL: {flow}",
        f"- resources.wh.config.path: semantic:missing_env - Missing env env.DB_FILE {_fix('DB_FILE')} [line 12]",
        "- profiles.base.options.cache: semantic:missing_env - Missing env env.CACHE_MODE "
        f"{_fix('CACHE_MODE')} [{tmp_path / 'profiles.yaml'}:4]",
    ]


def test_missing_env_of_a_resource_no_step_uses_is_no_problem(tmp_path: Path) -> None:
    flow, env = _setup(tmp_path)
    del env["DB_FILE"], env["CACHE_MODE"]

    result = aetherflow("doctor", "--flow-yaml", str(flow), env=env)

    assert (result.code, result.stdout) == (0, f"OK: {flow}\n")


def test_json_document_has_the_documented_keys_in_order(tmp_path: Path) -> None:
    flow, env = _setup(tmp_path)
    del env["ITEM"]

    result = aetherflow("doctor", "--flow-yaml", str(flow), "--json", env=env)

    assert result.code == 2
    assert result.stdout.count("\n") == 1
    doc = json.loads(result.stdout)
    assert list(doc) == ["ok", "flow_yaml", "problems", "warnings", "missing_env"]
    assert doc == {
        "ok": False,
        "flow_yaml": str(flow),
        "problems": [
            {
                "code": "semantic:missing_env",
                "loc": "jobs[0].steps[0].inputs.items[0]",
                "msg": f"Missing env env.ITEM {_fix('ITEM')}",
                "line": 16,
            }
        ],
        "warnings": [],
        "missing_env": ["ITEM"],
    }


def test_json_missing_env_lists_each_missing_name_of_flow_and_profiles_once_sorted(tmp_path: Path) -> None:
    flow, env = _setup(tmp_path)
    flow.write_text(flow.read_text(encoding="utf-8") + USES_WH, encoding="utf-8")
    del env["DB_FILE"], env["CACHE_MODE"], env["ITEM"]

    result = aetherflow("doctor", "--flow-yaml", str(flow), "--json", env=env)

    assert result.code == 2
    assert json.loads(result.stdout)["missing_env"] == ["CACHE_MODE", "DB_FILE", "ITEM"]


def test_json_missing_env_is_an_empty_list_when_every_name_is_set(tmp_path: Path) -> None:
    flow, env = _setup(tmp_path)

    result = aetherflow("doctor", "--flow-yaml", str(flow), "--json", env=env)

    assert result.code == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["missing_env"] == []


def test_validation_errors_are_problems(tmp_path: Path) -> None:
    flow, env = _setup(tmp_path)
    flow.write_text(flow.read_text().replace("check_items", "check_itemz"))

    result = aetherflow("doctor", "--flow-yaml", str(flow), "--json", env=env)

    assert result.code == 2
    assert [p["code"] for p in json.loads(result.stdout)["problems"]] == ["semantic:unknown_step_type"]


def test_template_syntax_is_a_problem(tmp_path: Path) -> None:
    flow, env = _setup(tmp_path)
    flow.write_text(flow.read_text().replace('"{{env.ITEM}}"', '"{{ env.ITEM | upper }}"'))

    result = aetherflow("doctor", "--flow-yaml", str(flow), "--json", env=env)

    assert result.code == 2
    assert [(p["code"], p["loc"]) for p in json.loads(result.stdout)["problems"]] == [
        ("template:syntax", "jobs[0].steps[0].inputs")
    ]


def test_a_conflicting_profiles_source_is_a_problem(tmp_path: Path) -> None:
    flow, env = _setup(tmp_path)
    env["AETHERFLOW_PROFILES_JSON"] = "{}"

    result = aetherflow("doctor", "--flow-yaml", str(flow), env=env)

    assert result.code == 2
    assert (
        "- AETHERFLOW_PROFILES_JSON: profile:source_conflict - Invalid profile configuration: set only one of "
        "AETHERFLOW_PROFILES_JSON or AETHERFLOW_PROFILES_FILE"
    ) in result.stdout.splitlines()


def test_non_missing_env_warnings_stay_warnings(tmp_path: Path) -> None:
    flow, env = _setup(tmp_path)
    flow.write_text(flow.read_text().replace('state: {path: "', 'state: {backend: file, path: "'))

    result = aetherflow("doctor", "--flow-yaml", str(flow), env=env)

    assert result.code == 0
    assert result.stdout.splitlines() == [
        f"OK: {flow}",
        "! flow.state.backend: semantic:state_backend_unsupported - state.backend 'file' is not supported; "
        "SQLite is used [line 5]",
    ]


def test_decode_without_a_secrets_hook_is_a_problem(tmp_path: Path) -> None:
    flow, env = _setup(tmp_path)
    flow.write_text(flow.read_text().replace("    config:\n", "    decode: {config: {path: true}}\n    config:\n"))

    result = aetherflow("doctor", "--flow-yaml", str(flow), env=env)

    assert result.code == 2
    assert result.stdout.splitlines()[1:] == [
        "- resources.wh.decode: settings:invalid - Resource 'wh' requests decode but no secrets hook is configured "
        "(set AETHERFLOW_SECRETS_MODULE or AETHERFLOW_SECRETS_PATH)"
    ]


def test_an_unloadable_secrets_hook_is_a_problem(tmp_path: Path) -> None:
    flow, env = _setup(tmp_path)
    env["AETHERFLOW_SECRETS_PATH"] = str(tmp_path / "missing_hook.py")

    result = aetherflow("doctor", "--flow-yaml", str(flow), env=env)

    assert result.code == 2
    assert result.stdout.splitlines()[1:] == [
        f"- AETHERFLOW_SECRETS_PATH: settings:invalid - Secrets hook file not found: {tmp_path / 'missing_hook.py'} "
        "(set AETHERFLOW_SECRETS_PATH to an existing .py file)"
    ]


def test_both_hook_settings_warn_that_the_module_wins(tmp_path: Path) -> None:
    flow, env = _setup(tmp_path)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "doctor_hook_mod.py").write_text("def decode(value):\n    return value\n")
    env.update(
        PYTHONPATH=str(hooks),
        AETHERFLOW_SECRETS_MODULE="doctor_hook_mod",
        AETHERFLOW_SECRETS_PATH=str(tmp_path / "ignored.py"),
    )

    result = aetherflow("doctor", "--flow-yaml", str(flow), env=env)

    assert result.code == 0, result.stdout
    assert result.stdout.splitlines()[1:] == [
        "! AETHERFLOW_SECRETS_PATH: settings:secrets_hook_conflict - Both AETHERFLOW_SECRETS_MODULE and "
        "AETHERFLOW_SECRETS_PATH are set; the module 'doctor_hook_mod' is used and the path ignored"
    ]


def test_an_unwritable_state_directory_is_a_problem(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a regular file where the state directory's parent should be")
    flow, env = _setup(tmp_path, state=blocker / "state" / "doc.db")

    result = aetherflow("doctor", "--flow-yaml", str(flow), env=env)

    assert result.code == 2
    assert result.stdout.splitlines()[1:] == [
        f"- flow.state.path: settings:invalid - State directory not writable: {blocker / 'state'} "
        f"(its nearest existing parent {blocker} is not a writable directory)"
    ]


def test_the_state_path_setting_is_checked_over_the_flow(tmp_path: Path) -> None:
    flow, env = _setup(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("")
    env["AETHERFLOW_STATE_PATH"] = str(blocker / "x.db")

    result = aetherflow("doctor", "--flow-yaml", str(flow), env=env)

    assert result.code == 2
    assert result.stdout.splitlines()[1].startswith(
        f"- AETHERFLOW_STATE_PATH: settings:invalid - State directory not writable: {blocker}"
    )


def test_doctor_creates_no_state_directory(tmp_path: Path) -> None:
    state_dir = tmp_path / "deep" / "state"
    flow, env = _setup(tmp_path, state=state_dir / "doc.db")

    result = aetherflow("doctor", "--flow-yaml", str(flow), env=env)

    assert result.code == 0, result.stdout
    assert not (tmp_path / "deep").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flow.yaml", "profiles.yaml"]


def test_a_state_directory_on_a_network_filesystem_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from aetherflow.cli import main
    from aetherflow.state import volume

    flow, env = _setup(tmp_path)
    for name in [n for n in os.environ if n.startswith("AETHERFLOW_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # The kernel's mount table is what a cluster provides: describe an NFS volume mounted at the state directory.
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        f"22 1 8:1 / / rw - ext4 /dev/sda1 rw\n90 22 0:50 / {tmp_path / 'state'} rw - nfs4 srv:/export rw\n"
    )
    real = volume.detect_filesystem
    monkeypatch.setattr(volume, "detect_filesystem", lambda path, **_: real(path, mountinfo=mountinfo))

    code = main(["doctor", "--flow-yaml", str(flow)])

    assert code == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        f"! flow.state.path: settings:state_network_fs - State path {tmp_path / 'state' / 'doc.db'} is on a network "
        "filesystem (nfs4); SQLite locking is unreliable there, journal mode DELETE will be used (state_network_fs)"
    ]


def test_strict_fs_makes_a_network_filesystem_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from aetherflow.cli import main
    from aetherflow.state import volume

    flow, env = _setup(tmp_path)
    for name in [n for n in os.environ if n.startswith("AETHERFLOW_")]:
        monkeypatch.delenv(name)
    for name, value in {**env, "AETHERFLOW_STATE_STRICT_FS": "true"}.items():
        monkeypatch.setenv(name, value)
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(f"22 1 8:1 / / rw - ext4 /dev/sda1 rw\n91 22 0:51 / {tmp_path} rw - fuse.sshfs host: rw\n")
    real = volume.detect_filesystem
    monkeypatch.setattr(volume, "detect_filesystem", lambda path, **_: real(path, mountinfo=mountinfo))

    code = main(["doctor", "--flow-yaml", str(flow)])

    assert code == 2
    assert capsys.readouterr().out.splitlines()[1:] == [
        f"- flow.state.path: settings:invalid - State path {tmp_path / 'state' / 'doc.db'} is on a network "
        "filesystem (fuse.sshfs); refusing to use SQLite there (AETHERFLOW_STATE_STRICT_FS=true)"
    ]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://gateway:9091", "unsupported scheme 'ftp' (use http or https)"),
        ("http://", "it has no host"),
        ("http://gateway:99999", "invalid port (Port out of range 0-65535)"),
        ("http://gateway:abc", "invalid port (Port could not be cast to integer value as 'abc')"),
        ("http://gate way:9091", "it contains whitespace"),
        (
            "http://gateway:9091/?x=1",
            "it must not have a query or fragment (metrics are pushed to <url>/metrics/job/...)",
        ),
    ],
)
def test_a_malformed_pushgateway_url_is_a_problem(tmp_path: Path, url: str, reason: str) -> None:
    flow, env = _setup(tmp_path)
    env["AETHERFLOW_PUSHGATEWAY_URL"] = url

    result = aetherflow("doctor", "--flow-yaml", str(flow), "--json", env=env)

    assert result.code == 2
    [problem] = json.loads(result.stdout)["problems"]
    assert problem["code"] == "settings:invalid"
    assert problem["loc"] == "AETHERFLOW_PUSHGATEWAY_URL"
    assert problem["msg"].startswith(f"AETHERFLOW_PUSHGATEWAY_URL is not a valid Pushgateway URL: {reason} (got ")


def test_the_pushgateway_problem_never_echoes_credentials(tmp_path: Path) -> None:
    flow, env = _setup(tmp_path)
    env["AETHERFLOW_PUSHGATEWAY_URL"] = "ftp://metrics:pw-Secret-81@gateway:9091"

    result = aetherflow("doctor", "--flow-yaml", str(flow), env=env)

    assert result.code == 2
    assert "pw-Secret-81" not in result.stdout + result.stderr
    assert "host 'gateway:9091'" in result.stdout


@pytest.mark.parametrize("url", ["http://127.0.0.1:9091", "https://push.example:443/prefix", "pushgateway:9091", ""])
def test_a_well_formed_pushgateway_url_is_fine_and_nothing_is_pushed(tmp_path: Path, url: str) -> None:
    flow, env = _setup(tmp_path)
    env["AETHERFLOW_PUSHGATEWAY_URL"] = url

    result = aetherflow("doctor", "--flow-yaml", str(flow), env=env)

    assert result.code == 0, result.stdout
    assert result.stdout == f"OK: {flow}\n"


def test_the_flow_is_discovered_from_the_setting_then_the_working_directory(tmp_path: Path) -> None:
    flow, env = _setup(tmp_path)
    other = tmp_path / "elsewhere"
    other.mkdir()

    from_setting = aetherflow("doctor", env={**env, "AETHERFLOW_FLOW_FILE": str(flow)}, cwd=other)
    from_cwd = aetherflow("doctor", env=env, cwd=tmp_path)
    nowhere = aetherflow("doctor", env=env, cwd=other)

    assert (from_setting.code, from_setting.stdout) == (0, f"OK: {flow}\n")
    assert (from_cwd.code, from_cwd.stdout) == (0, "OK: flow.yaml\n")
    assert nowhere.code == 2
    assert nowhere.stderr.startswith("error: No flow file: pass --flow-yaml, set AETHERFLOW_FLOW_FILE")


USES_WH = "      - {id: q, type: db_extract, inputs: {resource: wh, sql: SELECT 1, output: out.tsv}}\n"


def _absent_sqlite_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, used: bool) -> Path:
    from aetherflow import registry

    flow, env = _setup(tmp_path)
    if used:
        flow.write_text(flow.read_text(encoding="utf-8") + USES_WH, encoding="utf-8")
    for name in [n for n in os.environ if n.startswith("AETHERFLOW_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # what is installed is the environment's business: pretend sqlite3 came from an extra that is absent
    monkeypatch.setitem(registry.REQUIRES, "db:sqlite3", ("aetherflow_absent_driver_module", "sqlite"))
    return flow


def test_a_connector_whose_extra_is_not_installed_is_a_problem_when_a_step_uses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from aetherflow.cli import main

    flow = _absent_sqlite_extra(tmp_path, monkeypatch, used=True)

    code = main(["doctor", "--flow-yaml", str(flow)])

    assert code == 2
    assert capsys.readouterr().out.splitlines()[1:] == [
        "- resources.wh.driver: semantic:missing_extra - Connector db:sqlite3 needs the optional dependency "
        "'aetherflow_absent_driver_module' (install aetherflow[sqlite]) [line 9]"
    ]


def test_a_connector_whose_extra_is_not_installed_is_a_warning_when_no_step_uses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from aetherflow.cli import main

    flow = _absent_sqlite_extra(tmp_path, monkeypatch, used=False)

    code = main(["doctor", "--flow-yaml", str(flow)])

    assert code == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "! resources.wh.driver: semantic:missing_extra - Connector db:sqlite3 needs the optional dependency "
        "'aetherflow_absent_driver_module' (install aetherflow[sqlite]) (no step uses this resource) [line 9]"
    ]


def test_an_invalid_setting_is_a_problem_and_the_other_checks_still_run(tmp_path: Path) -> None:
    flow, env = _setup(tmp_path)
    del env["ITEM"]
    env["AETHERFLOW_LOCKS_SCOPE"] = "everything"

    result = aetherflow("doctor", "--flow-yaml", str(flow), "--json", env=env)

    assert result.code == 2
    assert [(p["code"], p["loc"]) for p in json.loads(result.stdout)["problems"]] == [
        ("settings:invalid", "AETHERFLOW_LOCKS_SCOPE"),
        ("semantic:missing_env", "jobs[0].steps[0].inputs.items[0]"),
    ]


@pytest.mark.parametrize(
    ("state_url", "flow_state", "loc", "message"),
    [
        ("mysql://u:pw@127.0.0.1/db", None, "AETHERFLOW_STATE_URL", "unsupported state URL"),
        (None, "postgresql://u:pw@127.0.0.1/db", "flow.state.path", "must be a path"),
    ],
)
def test_a_bad_state_url_is_a_problem_naming_where_it_came_from_without_its_password(
    tmp_path: Path, state_url: str | None, flow_state: str | None, loc: str, message: str
) -> None:
    flow, env = _setup(tmp_path, state=Path(flow_state) if flow_state else None)
    if flow_state:
        flow.write_text(flow.read_text().replace(str(Path(flow_state)), flow_state))
    if state_url:
        env["AETHERFLOW_STATE_URL"] = state_url

    result = aetherflow("doctor", "--flow-yaml", str(flow), "--json", env=env)

    assert result.code == 2, result.stdout + result.stderr
    problems = json.loads(result.stdout)["problems"]
    assert [(p["loc"], message in p["msg"]) for p in problems] == [(loc, True)]
    assert ":pw@" not in result.stdout


def test_a_postgresql_state_url_needs_no_state_directory(tmp_path: Path) -> None:
    flow, env = _setup(tmp_path, state=Path("/proc/not-writable/doc.db"))
    env["AETHERFLOW_STATE_URL"] = "postgresql://u@127.0.0.1:1/db?options=-csearch_path%3Dx"

    result = aetherflow("doctor", "--flow-yaml", str(flow), env=env)

    assert result.code == 0, result.stdout + result.stderr
