"""Settings through the real CLI: a bad value is one line and exit 2; an env file never carries settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import aetherflow, make_flow

FLOW = """\
    version: 1
    flow: {id: settings_cli}
    jobs:
      - id: one
        steps:
          - {id: check, type: check_items, inputs: {items: [1]}}
    """


@pytest.mark.parametrize("command", ["run", "validate"])
def test_a_bad_value_in_a_settings_file_is_one_line_and_exit_2(tmp_path: Path, command: str) -> None:
    flow = make_flow(tmp_path, FLOW)
    folder = tmp_path / "settings"
    folder.mkdir()
    (folder / "AETHERFLOW_GRACE_SECONDS").write_text("soon\n")
    args = ["run", "--flow-yaml", str(flow.flow), "--state", str(flow.state), "--work-root", str(flow.work)]
    res = aetherflow(*(args if command == "run" else ["validate", "--flow-yaml", str(flow.flow)]),
                     env={"AETHERFLOW_SETTINGS_DIR": str(folder)})  # fmt: skip
    assert res.code == 2
    assert "Traceback" not in res.stderr + res.stdout
    lines = [line for line in (res.stderr + res.stdout).splitlines() if "AETHERFLOW_GRACE_SECONDS" in line]
    assert len(lines) == 1
    assert "Input should be a valid number" in lines[0]
    assert str(folder / "AETHERFLOW_GRACE_SECONDS") in lines[0]
    assert not flow.state.exists()


def test_a_bad_variable_is_one_line_and_exit_2_without_a_run(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, FLOW)
    res = flow.run(env={"AETHERFLOW_OVERLAP_EXIT_CODE": "3"})
    assert res.code == 2
    assert res.stderr.strip().splitlines() == ["error: AETHERFLOW_OVERLAP_EXIT_CODE: Input should be 0 or 75"]
    assert not flow.state.exists()


def test_a_settings_file_configures_a_run(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, FLOW)
    folder = tmp_path / "settings"
    folder.mkdir()
    (folder / "AETHERFLOW_LOG_LEVEL").write_text("warning\n")
    assert flow.run(run_id="r0").event("run_summary")  # without the file: INFO events
    res = flow.run(run_id="r1", env={"AETHERFLOW_SETTINGS_DIR": str(folder)})
    assert res.code == 0, res.stderr
    assert res.events() == []  # a successful run logs nothing at WARNING


def test_an_env_file_defining_a_setting_is_warned_about_by_file_and_name_never_value(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, FLOW)
    env_file = tmp_path / "app.env"
    env_file.write_text("PLAIN=1\nAETHERFLOW_LOG_LEVEL=Zx91-not-for-logs\n")
    res = flow.run(env={"AETHERFLOW_ENV_FILES": f'["{env_file}"]'})
    assert res.code == 0, res.stderr
    [warning] = res.event("env_file_setting_ignored")
    assert (warning["level"], warning["file"], warning["variable"]) == (
        "WARNING",
        str(env_file),
        "AETHERFLOW_LOG_LEVEL",
    )
    assert "Zx91-not-for-logs" not in res.stderr + res.stdout


def test_validate_names_the_env_file_and_the_setting_it_defines_never_the_value(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, FLOW)
    env_file = tmp_path / "app.env"
    env_file.write_text("AETHERFLOW_RUN_ID=Zx91-not-for-logs\n")
    res = aetherflow("validate", "--flow-yaml", str(flow.flow), env={"AETHERFLOW_ENV_FILES": f'["{env_file}"]'})
    assert res.code == 0, res.stderr
    assert f"{env_file} defines AETHERFLOW_RUN_ID" in res.stderr
    assert "Zx91-not-for-logs" not in res.stderr + res.stdout


@pytest.mark.parametrize(("value", "warned"), [("off", True), (" No\n", True), ("f", True), ("true", False)])
def test_asking_for_lax_templates_with_any_false_word_is_warned_about_and_ignored(
    tmp_path: Path, value: str, warned: bool
) -> None:
    flow = make_flow(tmp_path, FLOW)
    res = flow.run(env={"AETHERFLOW_STRICT_TEMPLATES": value})
    assert res.code == 0, res.stderr
    assert len(res.event("setting_ignored")) == (1 if warned else 0)
