"""A canary secret never reaches logs, state or error messages."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import make_flow

CANARY = "canary-S3cr3t-value-42"


def test_a_secret_env_value_is_redacted_from_logs_state_and_errors(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """
        version: 1
        flow: {id: canary}
        jobs:
          - id: a
            steps:
              - id: leak
                type: external.process
                inputs:
                  command: ["/bin/sh", "-c", "echo token=$1; echo $1 >&2; exit 7", "sh", "{{env.API_TOKEN}}"]
                  log: {stdout: capture, stderr: capture}
                outputs: {echoed: "{{env.API_TOKEN}}"}
    """,
    )

    result = flow.run(env={"API_TOKEN": CANARY})
    state_dump = "\\n".join(
        str(row)
        for table in ("runs", "job_runs", "step_runs", "step_attempts")
        for row in flow.query(f"SELECT * FROM {table}")
    )

    assert result.code == 1
    assert CANARY not in result.stderr
    assert CANARY not in result.stdout
    assert CANARY not in state_dump
    assert "***" in state_dump
