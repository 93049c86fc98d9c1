"""An env file with `export` lines feeds a real `aetherflow run`; a broken one stops the run before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import make_flow

FLOW = """
version: 1
flow: {id: envfile}
jobs:
  - id: a
    steps:
      - id: write
        type: external.process
        inputs:
          command: ["/bin/sh", "-c", 'printf "%s" "$1" > "$2"', "sh", "{{env.GREETING}}", "{{env.OUT_FILE}}"]
"""


@pytest.mark.parametrize("setting", ["AETHERFLOW_ENV_FILES", "AETHERFLOW_ENV_FILES_JSON"])
def test_a_run_uses_a_value_from_an_export_line(tmp_path: Path, setting: str) -> None:
    env_file = tmp_path / "app.env"
    out = tmp_path / "out.txt"
    env_file.write_text(
        f"# written by a shell script\nexport GREETING='hello # \"world\" \\n'\nexport OUT_FILE={out}\n"
    )
    flow = make_flow(tmp_path, FLOW)

    result = flow.run(env={setting: json.dumps([str(env_file)])})

    assert result.code == 0, result.stderr
    assert out.read_text() == 'hello # "world" \\n'


def test_a_broken_env_file_is_one_error_line_with_exit_2_and_nothing_runs(tmp_path: Path) -> None:
    env_file = tmp_path / "app.env"
    out = tmp_path / "out.txt"
    env_file.write_bytes(f"OUT_FILE={out}\nGREETING=s3cr3t-value\x00\n".encode())
    flow = make_flow(tmp_path, FLOW)

    result = flow.run(env={"AETHERFLOW_ENV_FILES": json.dumps([str(env_file)])})

    assert result.code == 2
    assert "Traceback" not in result.stderr and "s3cr3t-value" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and str(env_file) in errors[0] and "line 2" in errors[0]
    assert not out.exists() and not flow.state.exists()
