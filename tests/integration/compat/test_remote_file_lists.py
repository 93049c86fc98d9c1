"""Upstream-style steps pass ``RemoteFileMeta`` lists along (as ``steps.<id>.files`` and as a promoted
``job.outputs.files``, as upstream's remote demo does): read as ``m.rel_path`` and ``m["size"]`` on a fresh run and
after a resume restored the list from the state store, against the real sshd."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.plugins.upstream_shapes import REMOTE_PLUGINS
from tests.servers.sshd import SshdServer
from tests.support.cli import FlowRun, make_flow
from tests.support.upstream import export, needs_upstream

HOSTILE = 'we\'ird "name" ü.csv'


def _flow(tmp_path: Path, server: SshdServer, remote_dir: str, gate: Path) -> FlowRun:
    return make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: remote_lists, workspace: {{cleanup_policy: never}}}}
        resources:
          sftp_in:
            kind: sftp
            driver: sftp-moveit
            config:
              host: "{server.host}"
              port: {server.port}
              user: "{server.user}"
              password: "{{{{env.SFTP_PASS}}}}"
        jobs:
          - id: pull
            steps:
              - id: list
                type: sftp_list_files_custom
                inputs: {{resource: sftp_in, remote_dir: "{remote_dir}", pattern: "*.csv", recursive: true}}
                outputs: {{files: "{{{{ result.files }}}}", count: "{{{{ result.count }}}}"}}
                on_no_data: skip_job
              - id: gate
                type: external.process
                inputs: {{command: ["/bin/sh", "-c", "test -f '{gate}'"]}}
              - id: download
                type: sftp_download_files_custom
                inputs: {{resource: sftp_in, files: "{{{{steps.list.files}}}}", dest_dir: inbox}}
              - id: delete
                type: sftp_delete_files_custom
                inputs: {{resource: sftp_in, files: "{{{{job.outputs.files}}}}"}}
        """,
    )


def _env(server: SshdServer) -> dict[str, str]:
    return {"AETHERFLOW_PLUGIN_PATHS": str(REMOTE_PLUGINS), "SFTP_PASS": server.password}


def _remote_files(server: SshdServer, remote_dir: str) -> None:
    server.put(f"{remote_dir}/a.csv", b"a")
    server.put(f"{remote_dir}/sub/{HOSTILE}", b"bb")
    server.put(f"{remote_dir}/skip.txt", b"ccc")


def test_a_fresh_run_hands_the_file_list_to_the_next_steps(
    tmp_path: Path, sshd_server: SshdServer, sftp_dir: str
) -> None:
    _remote_files(sshd_server, sftp_dir)
    gate = tmp_path / "gate"
    gate.touch()
    flow = _flow(tmp_path, sshd_server, sftp_dir, gate)

    result = flow.run(env=_env(sshd_server))

    assert result.code == 0, result.stderr
    download = flow.show(env=_env(sshd_server))["jobs"]["pull"]["steps"]["download"]["outputs"]
    assert download == {"local_files": ["a.csv", f"sub/{HOSTILE}"], "sizes": [1, 2]}
    inbox = flow.work / "remote_lists" / "pull" / "r1" / "artifacts" / "inbox"
    assert (inbox / "sub" / HOSTILE).read_bytes() == b"bb"
    assert sorted(p.name for p in (sshd_server.home / sftp_dir).rglob("*") if p.is_file()) == ["skip.txt"]


def test_a_resumed_run_hands_the_restored_file_list_to_the_next_steps_the_same_way(
    tmp_path: Path, sshd_server: SshdServer, sftp_dir: str
) -> None:
    _remote_files(sshd_server, sftp_dir)
    gate = tmp_path / "gate"
    flow = _flow(tmp_path, sshd_server, sftp_dir, gate)

    first = flow.run(env=_env(sshd_server))
    gate.touch()
    second = flow.run(env=_env(sshd_server))

    assert first.code == 1
    assert second.code == 0, second.stderr
    assert [e["step_id"] for e in second.event("step_restored")] == ["list"]
    download = flow.show(env=_env(sshd_server))["jobs"]["pull"]["steps"]["download"]["outputs"]
    assert download == {"local_files": ["a.csv", f"sub/{HOSTILE}"], "sizes": [1, 2]}
    assert sorted(p.name for p in (sshd_server.home / sftp_dir).rglob("*") if p.is_file()) == ["skip.txt"]


def test_an_empty_listing_skips_the_job_as_upstreams_skipped_result_says(
    tmp_path: Path, sshd_server: SshdServer, sftp_dir: str
) -> None:
    sshd_server.put(f"{sftp_dir}/only.txt", b"x")
    gate = tmp_path / "gate"
    gate.touch()
    flow = _flow(tmp_path, sshd_server, sftp_dir, gate)

    result = flow.run(env=_env(sshd_server))

    assert result.code == 0, result.stderr
    steps = flow.show(env=_env(sshd_server))["jobs"]["pull"]["steps"]
    assert steps["list"]["status"] == "SKIPPED"
    assert steps["list"]["outputs"]["reason"] == "0 < 1"
    assert "download" not in steps or steps["download"]["status"] == "SKIPPED"


@needs_upstream
@pytest.mark.parametrize("resumed", [False, True], ids=["fresh", "resumed"])
def test_upstreams_own_remote_demo_steps_download_and_delete_the_listed_files(
    resumed: bool, tmp_path: Path, sshd_server: SshdServer, sftp_dir: str
) -> None:
    plugins = export("demo/usecase-multiflows-remote/uc1/plugins", tmp_path / "upstream")
    _remote_files(sshd_server, sftp_dir)
    gate = tmp_path / "gate"
    if not resumed:
        gate.touch()
    flow = _flow(tmp_path, sshd_server, sftp_dir, gate)
    env = {**_env(sshd_server), "AETHERFLOW_PLUGIN_PATHS": str(plugins)}

    if resumed:
        assert flow.run(env=env).code == 1
        gate.touch()
    result = flow.run(env=env)

    assert result.code == 0, result.stderr
    assert [e["step_id"] for e in result.event("step_restored")] == (["list"] if resumed else [])
    inbox = flow.work / "remote_lists" / "pull" / "r1" / "artifacts" / "inbox"
    assert (inbox / "a.csv").read_bytes() == b"a"
    assert (inbox / "sub" / HOSTILE).read_bytes() == b"bb"
    assert sorted(p.name for p in (sshd_server.home / sftp_dir).rglob("*") if p.is_file()) == ["skip.txt"]
