"""``aetherflow run`` end to end with the SFTP steps against the real sshd."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from tests.servers.sshd import SshdServer
from tests.support.cli import FlowRun, make_flow


def _flow(tmp_path: Path, server: SshdServer, steps: str, *, port: int | None = None) -> FlowRun:
    return make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: sftp_e2e}}
        resources:
          partner:
            kind: sftp
            driver: paramiko
            config:
              host: 127.0.0.1
              port: {port or server.port}
              user: {server.user}
              pkey_path: "{server.client_key}"
              known_hosts: "{{{{env.PARTNER_KNOWN_HOSTS}}}}"
            options: {{timeout: 10}}
        jobs:
          - id: sync
            steps:
{steps}
        """,
    )


def test_list_download_upload_delete_chain_moves_files_between_remote_dirs(
    tmp_path: Path, sshd_server: SshdServer, sftp_dir: str
) -> None:
    sshd_server.put(f"{sftp_dir}/inbox/a.csv", b"id\n1\n", mtime=1_700_000_000)
    sshd_server.put(f"{sftp_dir}/inbox/day/b.csv", b"id\n2\n", mtime=1_700_000_000)
    sshd_server.make_dir(f"{sftp_dir}/archive")
    flow = _flow(
        tmp_path,
        sshd_server,
        f"""              - id: list
                type: sftp_list_files
                inputs: {{resource: partner, remote_dir: "{sftp_dir}/inbox", recursive: true, min_age_seconds: 60}}
              - id: get
                type: sftp_download_files
                inputs: {{resource: partner, files: "{{{{steps.list.files}}}}", dest_dir: incoming}}
              - id: put
                type: sftp_upload_files
                inputs: {{resource: partner, items: "{{{{steps.get.local_files}}}}", remote_dir: "{sftp_dir}/archive"}}
              - id: clean
                type: sftp_delete_files
                inputs: {{resource: partner, files: "{{{{steps.list.files}}}}"}}""",
    )

    result = flow.run(env={"PARTNER_KNOWN_HOSTS": sshd_server.known_hosts})

    assert result.code == 0, result.stderr
    remote = sshd_server.home / sftp_dir
    assert sorted(p.name for p in (remote / "archive").iterdir()) == ["a.csv", "b.csv"]
    assert (remote / "archive" / "b.csv").read_bytes() == b"id\n2\n"
    assert sorted(p.name for p in (remote / "inbox").rglob("*") if p.is_file()) == []
    outputs = {step: json.loads(out) for step, out in flow.query("SELECT step_id, outputs_json FROM step_runs")}
    assert outputs["list"]["count"] == 2
    assert outputs["put"]["count"] == 2


def test_unreachable_server_is_retried_by_the_step_retry(tmp_path: Path, sshd_server: SshdServer) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    flow = _flow(
        tmp_path,
        sshd_server,
        """              - id: list
                type: sftp_list_files
                inputs: {resource: partner, remote_dir: inbox}
                retry: {max_attempts: 2, backoff_seconds: 0.1}""",
        port=closed_port,
    )

    result = flow.run(env={"PARTNER_KNOWN_HOSTS": sshd_server.known_hosts})

    assert result.code == 1
    [(status, attempts, error)] = flow.query("SELECT status, attempts, error FROM step_runs")
    assert (status, attempts) == ("FAILED", 2)
    assert error.startswith(f"ConnectorError: SFTP server 127.0.0.1:{closed_port} unreachable")


def test_unknown_host_key_fails_at_once_despite_a_step_retry(tmp_path: Path, sshd_server: SshdServer) -> None:
    flow = _flow(
        tmp_path,
        sshd_server,
        """              - id: list
                type: sftp_list_files
                inputs: {resource: partner, remote_dir: inbox}
                retry: {max_attempts: 3, backoff_seconds: 0.1}""",
    )

    result = flow.run(env={"PARTNER_KNOWN_HOSTS": "# nobody vouches for this server"})

    assert result.code == 3  # permanent: retrying cannot help
    [(status, attempts, error)] = flow.query("SELECT status, attempts, error FROM step_runs")
    assert (status, attempts) == ("FAILED", 1)
    assert error == f"ConnectorError: SFTP host key for 127.0.0.1:{sshd_server.port} not verified (unknown)"


def test_an_upload_of_a_directory_and_a_glob_sends_their_files(
    tmp_path: Path, sshd_server: SshdServer, sftp_dir: str
) -> None:
    out = tmp_path / "work" / "out ü"
    (out / "deeper").mkdir(parents=True)
    (out / "a.csv").write_text("a\n")
    (out / "b.csv").write_text("bb\n")
    (out / "deeper" / "not-sent.csv").write_text("no\n")
    (tmp_path / "work" / "c.txt").write_text("ccc\n")
    sshd_server.make_dir(f"{sftp_dir}/up")
    glob = tmp_path / "work" / "*.txt"
    flow = _flow(
        tmp_path,
        sshd_server,
        f"""              - id: put
                type: sftp_upload_files
                inputs: {{resource: partner, items: ["{out}", "{glob}"], remote_dir: "{sftp_dir}/up"}}""",
    )

    result = flow.run(env={"PARTNER_KNOWN_HOSTS": sshd_server.known_hosts})

    assert result.code == 0, result.stderr
    remote = sshd_server.home / sftp_dir / "up"
    assert sorted(p.name for p in remote.iterdir()) == ["a.csv", "b.csv", "c.txt"]
    assert (remote / "b.csv").read_text() == "bb\n"
    [(outputs,)] = flow.query("SELECT outputs_json FROM step_runs")
    assert json.loads(outputs)["count"] == 3
