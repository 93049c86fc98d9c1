"""``aetherflow run`` end to end with the SMB steps against a real Samba server, through both connectors."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers.smb import SmbServer
from tests.support.cli import FlowRun, make_flow

DRIVERS = ["smbclient", "pysmb"]

pytestmark = pytest.mark.servers


def _flow(
    tmp_path: Path, server: SmbServer, driver: str, steps: str, *, port: int | None = None, share: str = "data"
) -> FlowRun:
    return make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: smb_e2e}}
        resources:
          share:
            kind: smb
            driver: {driver}
            config:
              server: 127.0.0.1
              port: {port or server.port}
              share: "{share}"
              username: {server.user}
              password: "{{{{env.SMB_PASSWORD}}}}"
            options: {{timeout: 5}}
        jobs:
          - id: sync
            steps:
{steps}
        """,
    )


def _outputs(flow: FlowRun) -> dict[str, dict[str, object]]:
    return {step: json.loads(out) for step, out in flow.query("SELECT step_id, outputs_json FROM step_runs")}


@pytest.mark.parametrize("driver", DRIVERS)
def test_list_download_upload_delete_chain_moves_files_between_share_dirs(
    tmp_path: Path, smb_server: SmbServer, smb_dir: str, driver: str
) -> None:
    smb_server.put(f"{smb_dir}/inbox/a.csv", b"id\n1\n", mtime=1_700_000_000)
    smb_server.put(f"{smb_dir}/inbox/day/b.csv", b"id\n2\n", mtime=1_700_000_000)
    smb_server.put(f"{smb_dir}/inbox/notes.txt", b"not a csv")
    flow = _flow(
        tmp_path,
        smb_server,
        driver,
        f"""              - id: list
                type: smb_list_files
                inputs: {{resource: share, remote_dir: "{smb_dir}/inbox", pattern: "*.csv", recursive: true}}
              - id: get
                type: smb_download_files
                inputs: {{resource: share, files: "{{{{steps.list.files}}}}", dest_dir: incoming}}
              - id: put
                type: smb_upload_files
                inputs: {{resource: share, local_files: "{{{{steps.get.local_files}}}}", remote_dir: "{smb_dir}/out"}}
              - id: clean
                type: smb_delete_files
                inputs: {{resource: share, files: "{{{{steps.list.files}}}}"}}""",
    )

    result = flow.run(env={"SMB_PASSWORD": smb_server.password})

    assert result.code == 0, result.stderr
    assert smb_server.files(f"{smb_dir}/out") == {"a.csv": b"id\n1\n", "b.csv": b"id\n2\n"}
    assert smb_server.files(f"{smb_dir}/inbox") == {"notes.txt": b"not a csv"}
    outputs = _outputs(flow)
    assert outputs["list"]["count"] == 2
    assert [f["rel_path"] for f in outputs["list"]["files"]] == ["a.csv", "day/b.csv"]  # type: ignore[union-attr]
    assert outputs["put"]["remote_dir"] == f"{smb_dir}/out"
    assert [Path(p).name for p in outputs["put"]["uploaded"]] == ["a.csv", "b.csv"]  # type: ignore[union-attr]
    assert outputs["clean"] == {"is_deleted": True}


@pytest.mark.parametrize("driver", DRIVERS)
def test_an_empty_remote_dir_skips_the_listing_and_the_steps_that_need_its_data(
    tmp_path: Path, smb_server: SmbServer, smb_dir: str, driver: str
) -> None:
    flow = _flow(
        tmp_path,
        smb_server,
        driver,
        f"""              - id: list
                type: smb_list_files
                inputs: {{resource: share, remote_dir: "data:/{smb_dir}"}}""",
    )

    result = flow.run(env={"SMB_PASSWORD": smb_server.password})

    assert result.code == 0, result.stderr
    [(status, outputs)] = flow.query("SELECT status, outputs_json FROM step_runs")
    assert status == "SKIPPED"
    assert json.loads(outputs) == {"has_data": False, "count": 0, "files": [], "reason": "count(0) < min_count(1)"}


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_wrong_password_fails_at_once_despite_a_step_retry(
    tmp_path: Path, smb_server: SmbServer, driver: str
) -> None:
    flow = _flow(
        tmp_path,
        smb_server,
        driver,
        """              - id: list
                type: smb_list_files
                inputs: {resource: share, remote_dir: "/"}
                retry: {max_attempts: 3, backoff_seconds: 0.1}""",
    )

    result = flow.run(env={"SMB_PASSWORD": "not-the-Pa55word"})

    assert result.code == 3  # permanent: retrying cannot help
    [(status, attempts, error)] = flow.query("SELECT status, attempts, error FROM step_runs")
    assert (status, attempts) == ("FAILED", 1)
    assert error == (
        f"ConnectorError: SMB authentication failed for user '{smb_server.user}' at 127.0.0.1:{smb_server.port} "
        "(resource 'share'): check config.username and config.password"
    )
    assert "not-the-Pa55word" not in result.stderr


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_server_that_is_down_is_retried_by_the_step_retry(tmp_path: Path, smb_server: SmbServer, driver: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    flow = _flow(
        tmp_path,
        smb_server,
        driver,
        """              - id: list
                type: smb_list_files
                inputs: {resource: share, remote_dir: "/"}
                retry: {max_attempts: 2, backoff_seconds: 0.1}""",
        port=closed_port,
    )

    result = flow.run(env={"SMB_PASSWORD": smb_server.password})

    assert result.code == 1
    [(status, attempts, error)] = flow.query("SELECT status, attempts, error FROM step_runs")
    assert (status, attempts) == ("FAILED", 2)
    assert error.startswith(f"ConnectorError: SMB server 127.0.0.1:{closed_port} unreachable (resource 'share')")


@pytest.mark.parametrize("driver", DRIVERS)
def test_names_with_spaces_unicode_and_dots_survive_the_round_trip(
    tmp_path: Path, smb_server: SmbServer, smb_dir: str, driver: str
) -> None:
    names = {"a file.csv": b"1", "résumé ünï 日本.csv": b"2", "..hidden..csv": b"3", "it's #1 & $2.csv": b"4"}
    for name, data in names.items():
        smb_server.put(f"{smb_dir}/in dir/{name}", data)
    flow = _flow(
        tmp_path,
        smb_server,
        driver,
        f"""              - id: list
                type: smb_list_files
                inputs: {{resource: share, remote_dir: "/{smb_dir}/sub/../in dir"}}
              - id: get
                type: smb_download_files
                inputs: {{resource: share, files: "{{{{steps.list.files}}}}", dest_dir: "got it"}}
              - id: put
                type: smb_upload_files
                inputs: {{resource: share, local_files: ["got it"], remote_dir: "data:/{smb_dir}/née"}}""",
    )

    result = flow.run(env={"SMB_PASSWORD": smb_server.password})

    assert result.code == 0, result.stderr
    assert smb_server.files(f"{smb_dir}/née") == names
    local_files = _outputs(flow)["get"]["local_files"]
    assert sorted(Path(p).name for p in local_files) == sorted(names)  # type: ignore[union-attr]
    assert all(Path(p).parent.name == "got it" for p in local_files)  # type: ignore[union-attr]


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_remote_dir_that_climbs_above_the_share_root_fails_before_any_transfer(
    tmp_path: Path, smb_server: SmbServer, smb_dir: str, driver: str
) -> None:
    flow = _flow(
        tmp_path,
        smb_server,
        driver,
        f"""              - id: list
                type: smb_list_files
                inputs: {{resource: share, remote_dir: "{smb_dir}/../../etc"}}
                retry: {{max_attempts: 3, backoff_seconds: 0.1}}""",
    )

    result = flow.run(env={"SMB_PASSWORD": smb_server.password})

    assert result.code == 3  # permanent: retrying cannot help
    [(status, attempts, error)] = flow.query("SELECT status, attempts, error FROM step_runs")
    assert (status, attempts) == ("FAILED", 1)
    assert error == f"ConnectorError: SMB path '{smb_dir}/../../etc' escapes the share root"


@pytest.mark.parametrize("driver", DRIVERS)
def test_an_upload_of_a_missing_local_file_fails_naming_it(
    tmp_path: Path, smb_server: SmbServer, smb_dir: str, driver: str
) -> None:
    flow = _flow(
        tmp_path,
        smb_server,
        driver,
        f"""              - id: put
                type: smb_upload_files
                inputs: {{resource: share, local_files: ["nowhere/report.csv"], remote_dir: "{smb_dir}"}}""",
    )

    result = flow.run(env={"SMB_PASSWORD": smb_server.password})

    assert result.code == 3  # permanent: retrying cannot help
    [(status, error)] = flow.query("SELECT status, error FROM step_runs")
    assert status == "FAILED"
    assert error.startswith("ValueError: smb_upload_files file not found: ")
    assert error.endswith("nowhere/report.csv")
    assert smb_server.files(smb_dir) == {}


@pytest.mark.parametrize("local_files", ['["empty"]', '["empty/*.csv"]'])
def test_an_upload_of_an_empty_dir_or_a_glob_matching_nothing_is_skipped(
    tmp_path: Path, smb_server: SmbServer, smb_dir: str, local_files: str
) -> None:
    empty = tmp_path / "work" / "empty"
    empty.mkdir(parents=True)
    local_files = local_files.replace("empty", str(empty))
    flow = _flow(
        tmp_path,
        smb_server,
        "smbclient",
        f"""              - id: put
                type: smb_upload_files
                inputs: {{resource: share, local_files: {local_files}, remote_dir: "{smb_dir}"}}""",
    )

    result = flow.run(env={"SMB_PASSWORD": smb_server.password})

    assert result.code == 0, result.stderr
    [(status, outputs)] = flow.query("SELECT status, outputs_json FROM step_runs")
    assert status == "SKIPPED"
    assert json.loads(outputs)["count"] == 0
    assert json.loads(outputs)["reason"] == "no_files"


def test_validating_an_smb_flow_names_a_misspelt_input_and_loads_no_smb_library(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """
        version: 1
        flow: {id: smb_validate}
        resources:
          share: {kind: smb, driver: pysmb, config: {server: files.example, share: data}}
          other: {kind: smb, driver: smbclient, config: {server: files.example, share: data}}
        jobs:
          - id: j
            steps:
              - id: list
                type: smb_list_files
                inputs: {resource: share, remote_dir: "/", patern: "*.csv"}
              - id: get
                type: smb_download_files
                inputs: {resource: other, files: [a.csv], dest_dir: in}
        """,
    )
    probe = (
        "import sys, contextlib, io\n"
        "from aetherflow.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        f"    code = main(['validate', '--flow-yaml', {str(flow.flow)!r}])\n"
        "print(code, sorted(m for m in sys.modules if m.split('.')[0] in ('smb', 'smbclient', 'smbprotocol')))\n"
        "print(out.getvalue())\n"
    )

    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)

    first, *report = done.stdout.splitlines()
    assert first == "2 []", done.stdout + done.stderr
    assert any("inputs.patern" in line and "did you mean 'pattern'" in line for line in report)
