"""``aetherflow run`` end to end with the S3 steps against the moto S3 API."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from tests.servers.s3 import S3Server
from tests.support.cli import FlowRun, make_flow


def _flow(tmp_path: Path, endpoint: str, bucket: str, steps: str) -> FlowRun:
    return make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: s3_e2e, workspace: {{cleanup_policy: never}}}}
        resources:
          lake:
            kind: s3
            driver: boto3
            config:
              bucket: {bucket}
              endpoint_url: "{endpoint}"
              region: us-east-1
              access_key_id: "{{{{env.LAKE_KEY_ID}}}}"
              secret_access_key: "{{{{env.LAKE_SECRET}}}}"
            options: {{retries: {{max_attempts: 1}}, connect_timeout: 2}}
        jobs:
          - id: ship
            steps:
{steps}
        """,
    )


def _env() -> dict[str, str]:
    from tests.servers.s3 import S3_ACCESS_KEY, S3_SECRET_KEY

    return {"LAKE_KEY_ID": S3_ACCESS_KEY, "LAKE_SECRET": S3_SECRET_KEY}


def test_upload_list_download_chain_round_trips_files(tmp_path: Path, s3_server: S3Server, s3_bucket: str) -> None:
    source = tmp_path / "work" / "s3_e2e" / "ship" / "r1" / "artifacts"
    flow = _flow(
        tmp_path,
        s3_server.endpoint_url,
        s3_bucket,
        """              - id: make
                type: external.process
                inputs: {command: ["/bin/sh", "-c", "mkdir -p out && printf a > out/a.csv && printf bb > out/b.csv"],
                         cwd: "."}
              - id: push
                type: s3_upload_files
                inputs: {resource: lake, items: ["out/*.csv"], prefix: "daily/"}
              - id: list
                type: s3_list_files
                inputs: {resource: lake, prefix: "daily/"}
              - id: pull
                type: s3_download_files
                inputs: {resource: lake, files: "{{steps.list.files}}", dest_dir: back}""",
    )

    result = flow.run(env=_env())

    assert result.code == 0, result.stderr
    assert (source / "back" / "a.csv").read_bytes() == b"a"
    assert (source / "back" / "b.csv").read_bytes() == b"bb"
    outputs = {step: json.loads(out) for step, out in flow.query("SELECT step_id, outputs_json FROM step_runs")}
    assert [u["key"] for u in outputs["push"]["uploaded"]] == ["daily/a.csv", "daily/b.csv"]
    assert outputs["list"]["count"] == 2


def test_unreachable_endpoint_is_retried_by_the_step_retry(tmp_path: Path, s3_bucket: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    flow = _flow(
        tmp_path,
        f"http://127.0.0.1:{closed_port}",
        s3_bucket,
        """              - id: list
                type: s3_list_files
                inputs: {resource: lake}
                retry: {max_attempts: 2, backoff_seconds: 0.1}""",
    )

    result = flow.run(env=_env())

    assert result.code == 1
    [(status, attempts, error)] = flow.query("SELECT status, attempts, error FROM step_runs")
    assert (status, attempts) == ("FAILED", 2)
    assert "connection failed" in error


def test_missing_object_fails_at_once_despite_a_step_retry(tmp_path: Path, s3_server: S3Server, s3_bucket: str) -> None:
    flow = _flow(
        tmp_path,
        s3_server.endpoint_url,
        s3_bucket,
        """              - id: pull
                type: s3_download_files
                inputs: {resource: lake, files: [nope/missing.csv], dest_dir: back}
                retry: {max_attempts: 3, backoff_seconds: 0.1}""",
    )

    result = flow.run(env=_env())

    assert result.code == 3  # permanent: retrying cannot help
    [(status, attempts, error)] = flow.query("SELECT status, attempts, error FROM step_runs")
    assert (status, attempts) == ("FAILED", 1)
    assert error == (
        f"ConnectorError: S3 download: object not found: s3://{s3_bucket}/nope/missing.csv (resource 'lake')"
    )


def test_an_upload_of_a_directory_sends_its_files_and_a_missing_one_fails_at_once(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    out = tmp_path / "work" / "out ü"
    out.mkdir(parents=True)
    (out / "a.csv").write_text("a\n")
    (out / "b.csv").write_text("bb\n")
    flow = _flow(
        tmp_path,
        s3_server.endpoint_url,
        s3_bucket,
        f"""              - id: push
                type: s3_upload_files
                inputs: {{resource: lake, items: ["{out}"], prefix: "dir/"}}
              - id: again
                type: s3_upload_files
                retry: {{max_attempts: 3, backoff_seconds: 0}}
                inputs: {{resource: lake, items: ["{out}/gone"], prefix: "dir/"}}""",
    )

    result = flow.run(env=_env())

    assert result.code == 3, result.stderr
    rows = {
        step: (status, attempts, error)
        for step, status, attempts, error in flow.query("SELECT step_id, status, attempts, error FROM step_runs")
    }
    assert rows["again"] == ("FAILED", 1, f"ValueError: s3_upload_files file not found: {out / 'gone'}")
    [(outputs,)] = flow.query("SELECT outputs_json FROM step_runs WHERE step_id = 'push'")
    assert [u["key"] for u in json.loads(outputs)["uploaded"]] == ["dir/a.csv", "dir/b.csv"]
