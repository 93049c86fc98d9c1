"""``aetherflow validate`` (cli.md §4): text and JSON layouts, exit codes, the env snapshot a run would use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aetherflow.cli import main

ROOT = Path(__file__).resolve().parents[3]
VALID = (
    "version: 1\nflow: {id: f}\njobs:\n  - id: a\n    steps:\n"
    "      - {id: s, type: check_items, inputs: {items: [x]}}\n"
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command reads os.environ: keep the caller's AETHERFLOW_* settings out of these tests."""
    import os

    for name in list(os.environ):
        if name.upper().startswith("AETHERFLOW_"):
            monkeypatch.delenv(name)


def _flow(tmp_path: Path, text: str) -> str:
    path = tmp_path / "flow.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_valid_flow_prints_ok_and_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _flow(tmp_path, VALID)

    code = main(["validate", "--flow-yaml", path])

    assert code == 0
    assert capsys.readouterr().out == f"OK: {path}\n"


def test_positional_flow_path_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _flow(tmp_path, VALID)

    assert main(["validate", path]) == 0
    assert capsys.readouterr().out == f"OK: {path}\n"


def test_invalid_flow_prints_errors_then_warnings_with_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _flow(
        tmp_path,
        "version: 1\nflow: {id: f, state: {backend: file}}\njobs:\n  - id: a\n    depends_on: [zz]\n    steps: []\n",
    )

    code = main(["validate", "--flow-yaml", path])

    assert code == 2
    assert capsys.readouterr().out.splitlines() == [
        f"INVALID: {path}",
        "- jobs[0].depends_on: semantic:depends_on_unknown_job - Job 'a' depends_on unknown job: zz [line 5]",
        "! flow.state.backend: semantic:state_backend_unsupported - "
        "state.backend 'file' is not supported; SQLite is used [line 2]",
    ]


def test_warnings_are_printed_for_a_valid_flow(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _flow(tmp_path, VALID.replace("[x]", '"{{env.NOT_SET_ANYWHERE}}"'))

    assert main(["validate", "--flow-yaml", path]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"OK: {path}",
        "! jobs[0].steps[0].inputs.items: semantic:missing_env - Missing env env.NOT_SET_ANYWHERE "
        "(set NOT_SET_ANYWHERE, or give a default: {{env.NOT_SET_ANYWHERE:default}}) [line 6]",
    ]


def test_missing_env_fails_validation_when_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _flow(tmp_path, VALID.replace("[x]", '"{{env.NOT_SET_ANYWHERE}}"'))
    monkeypatch.setenv("AETHERFLOW_VALIDATE_ENV_STRICT", "true")

    assert main(["validate", "--flow-yaml", path]) == 2
    assert capsys.readouterr().out.splitlines()[1].startswith("- jobs[0].steps[0].inputs.items: semantic:missing_env")


def test_strict_env_flag_makes_a_missing_env_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _flow(tmp_path, VALID.replace("[x]", '"{{env.NOT_SET_ANYWHERE}}"'))

    assert main(["validate", "--strict-env", "--flow-yaml", path]) == 2
    assert capsys.readouterr().out.splitlines() == [
        f"INVALID: {path}",
        "- jobs[0].steps[0].inputs.items: semantic:missing_env - Missing env env.NOT_SET_ANYWHERE "
        "(set NOT_SET_ANYWHERE, or give a default: {{env.NOT_SET_ANYWHERE:default}}) [line 6]",
    ]


def test_a_missing_env_in_the_flow_block_is_the_missing_env_warning_not_a_template_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _flow(tmp_path, VALID.replace("{id: f}", '{id: "{{env.FLOW_NAME_UNSET}}"}'))

    assert main(["validate", "--flow-yaml", path]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"OK: {path}"
    assert [line.split(" - ")[0] for line in out[1:]] == ["! flow.id: semantic:missing_env"]


def test_an_env_read_by_a_resource_no_step_uses_is_not_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    resources = 'resources:\n  spare: {kind: db, driver: sqlite3, config: {path: "{{env.SPARE_UNSET}}"}}\n'
    path = _flow(tmp_path, VALID.replace("jobs:\n", resources + "jobs:\n"))

    assert main(["validate", "--strict-env", "--flow-yaml", path]) == 0
    assert capsys.readouterr().out == f"OK: {path}\n"


def test_json_output_is_one_line_with_keys_in_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _flow(tmp_path, "flow: {id: f}\nresources:\n  r: {kind: db, driver: sqlite3, profile: p}\njobs: []\n")

    code = main(["validate", "--flow-yaml", path, "--json"])

    out = capsys.readouterr().out
    assert code == 0
    assert (
        out
        == json.dumps(
            {
                "ok": True,
                "errors": [],
                "warnings": [
                    {
                        "code": "semantic:unknown_profile",
                        "loc": "resources.r.profile",
                        "msg": "Resource 'r' references profile 'p' but no profiles are configured",
                        "line": 3,
                    }
                ],
                "flow_yaml": path,
            }
        )
        + "\n"
    )


def test_json_records_from_another_file_carry_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    profiles = tmp_path / "profiles.yaml"
    profiles.write_text("p:\n  config_env: {}\n", encoding="utf-8")
    monkeypatch.setenv("AETHERFLOW_PROFILES_FILE", str(profiles))
    path = _flow(tmp_path, "flow: {id: f}\nresources:\n  r: {kind: db, driver: sqlite3, profile: p}\njobs: []\n")

    code = main(["validate", "--flow-yaml", path, "--json"])

    out = capsys.readouterr().out
    assert code == 2
    assert (
        out
        == json.dumps(
            {
                "ok": False,
                "errors": [
                    {
                        "code": "schema:extra_forbidden",
                        "loc": "profiles.p.config_env",
                        "msg": "Invalid profile configuration: Extra inputs are not permitted (did you mean 'config'?)",
                        "line": 2,
                        "file": str(profiles),
                    }
                ],
                "warnings": [],
                "flow_yaml": path,
            },
            ensure_ascii=False,
        )
        + "\n"
    )


def test_text_output_names_the_other_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    profiles = tmp_path / "profiles.yaml"
    profiles.write_text("p:\n  config_env: {}\n", encoding="utf-8")
    monkeypatch.setenv("AETHERFLOW_PROFILES_FILE", str(profiles))
    path = _flow(tmp_path, "flow: {id: f}\nresources:\n  r: {kind: db, driver: sqlite3, profile: p}\njobs: []\n")

    main(["validate", "--flow-yaml", path])

    assert capsys.readouterr().out.splitlines()[1] == (
        "- profiles.p.config_env: schema:extra_forbidden - Invalid profile configuration: Extra inputs are not "
        f"permitted (did you mean 'config'?) [{profiles}:2]"
    )


def test_missing_flow_file_is_reported_like_any_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "nope.yaml")

    code = main(["validate", "--flow-yaml", missing])

    assert code == 2
    assert capsys.readouterr().out.splitlines() == [
        f"INVALID: {missing}",
        f"- <root>: settings:invalid - Flow file not found: {missing}",
    ]


def test_env_files_feed_the_validation_env(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dotenv = tmp_path / "vars.env"
    dotenv.write_text("FROM_ENV_FILE=a,b\n", encoding="utf-8")
    monkeypatch.setenv("AETHERFLOW_ENV_FILES", json.dumps([str(dotenv)]))
    path = _flow(tmp_path, VALID.replace("[x]", '"{{env.FROM_ENV_FILE}}"'))

    assert main(["validate", "--flow-yaml", path]) == 0
    assert capsys.readouterr().out == f"OK: {path}\n"


def test_a_missing_env_file_is_an_invalid_record_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AETHERFLOW_ENV_FILES", json.dumps([str(tmp_path / "gone.env")]))
    path = _flow(tmp_path, VALID)

    code = main(["validate", "--flow-yaml", path, "--json"])

    assert code == 2
    assert json.loads(capsys.readouterr().out)["errors"] == [
        {
            "code": "settings:invalid",
            "loc": "AETHERFLOW_ENV_FILES",
            "msg": f"Env file not found: {tmp_path / 'gone.env'}",
        }
    ]


def test_secret_values_are_masked_in_the_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", "tok-3x4mpl3")
    path = _flow(tmp_path, "flow: {id: f}\njobs:\n  - id: tok-3x4mpl3\n    steps: []\n    depends_on: [x]\n")

    main(["validate", "--flow-yaml", path])

    out = capsys.readouterr().out
    assert "tok-3x4mpl3" not in out and "Job '***' depends_on unknown job: x" in out


def test_a_missing_bundle_manifest_is_reported_invalid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", "--bundle-manifest", str(tmp_path / "m.yaml")])

    assert code == 2
    out = capsys.readouterr().out
    assert out.startswith("INVALID:")
    assert "Bundle manifest not found" in out


def test_no_flow_at_all_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as raised:
        main(["validate"])

    assert raised.value.code == 2


def test_console_script_exit_codes_and_no_traceback(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(VALID, encoding="utf-8")
    bad.write_text("flow: {id: f}\njobs: [{id: a, steps: [], when: 'import os'}]\n", encoding="utf-8")
    exe = [sys.executable, "-m", "aetherflow", "validate", "--flow-yaml"]

    ok = subprocess.run([*exe, str(good)], capture_output=True, text=True, check=False, cwd=ROOT)
    invalid = subprocess.run([*exe, str(bad)], capture_output=True, text=True, check=False, cwd=ROOT)
    missing = subprocess.run([*exe, str(tmp_path / "x.yaml")], capture_output=True, text=True, check=False, cwd=ROOT)

    assert (ok.returncode, invalid.returncode, missing.returncode) == (0, 2, 2)
    assert "Traceback" not in invalid.stderr + missing.stderr
    assert invalid.stdout.splitlines()[1].startswith("- jobs[0].when: semantic:invalid_when - ")


def test_invalid_setting_is_a_record_naming_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AETHERFLOW_LOCKS_SCOPE", "everything")
    path = _flow(tmp_path, VALID)

    code = main(["validate", "--flow-yaml", path, "--json"])

    errors = json.loads(capsys.readouterr().out)["errors"]
    assert code == 2
    assert [(e["code"], e["loc"]) for e in errors] == [("settings:invalid", "AETHERFLOW_LOCKS_SCOPE")]


def test_secrets_hook_expand_env_feeds_the_validation_env(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = tmp_path / "hook.py"
    hook.write_text(
        "def decode(value):\n    return value\n\n\ndef expand_env(env):\n    return {**env, 'FROM_HOOK': 'a,b'}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("AETHERFLOW_SECRETS_PATH", str(hook))
    path = _flow(tmp_path, VALID.replace("[x]", '"{{env.FROM_HOOK}}"'))

    assert main(["validate", "--flow-yaml", path]) == 0
    assert capsys.readouterr().out == f"OK: {path}\n"


def test_a_workspace_layout_with_only_artifacts_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = VALID.replace("flow: {id: f}", "flow: {id: f, workspace: {layout: {artifacts: out}}}")
    path = _flow(tmp_path, text)

    assert main(["validate", path]) == 0
    assert capsys.readouterr().out == f"OK: {path}\n"
