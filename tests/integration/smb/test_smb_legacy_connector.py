"""The ``smb_*`` steps with an SMB connector of a legacy plugin (upstream's contract: ``list``, ``read_bytes``)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.plugins import SMB_DIR
from tests.support.cli import FlowRun, make_flow


def _flow(tmp_path: Path, steps: str) -> FlowRun:
    share = tmp_path / "share"
    (share / "in" / "day").mkdir(parents=True)
    (share / "in" / "a.csv").write_bytes(b"a")
    (share / "in" / "day" / "b.csv").write_bytes(b"bb")
    (share / "in" / "skip.txt").write_bytes(b"t")
    return make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: smb_legacy}}
        resources:
          share: {{kind: smb, driver: localshare, config: {{root: "{share}"}}}}
        jobs:
          - id: j
            steps:
{steps}
        """,
    )


def test_a_legacy_smb_connector_serves_listing_and_download(tmp_path: Path) -> None:
    flow = _flow(
        tmp_path,
        """              - id: list
                type: smb_list_files
                inputs: {resource: share, remote_dir: /in, pattern: "*.csv", recursive: true}
              - id: get
                type: smb_download_files
                inputs: {resource: share, files: "{{steps.list.files}}", dest_dir: got}""",
    )

    result = flow.run(env={"AETHERFLOW_PLUGIN_PATHS": str(SMB_DIR)})

    assert result.code == 0, result.stderr
    outputs = {step: json.loads(out) for step, out in flow.query("SELECT step_id, outputs_json FROM step_runs")}
    assert [(f["rel_path"], f["size"]) for f in outputs["list"]["files"]] == [("a.csv", 1), ("day/b.csv", 2)]
    assert [Path(p).relative_to(outputs["get"]["dest_dir"]).as_posix() for p in outputs["get"]["local_files"]] == [
        "a.csv",
        "day/b.csv",
    ]


def test_an_operation_the_legacy_connector_lacks_fails_naming_it(tmp_path: Path) -> None:
    flow = _flow(
        tmp_path,
        """              - id: clean
                type: smb_delete_files
                inputs: {resource: share, files: [/in/a.csv]}""",
    )

    result = flow.run(env={"AETHERFLOW_PLUGIN_PATHS": str(SMB_DIR)})

    assert result.code == 3  # permanent: retrying cannot help
    [(status, error)] = flow.query("SELECT status, error FROM step_runs")
    assert (status, error) == ("FAILED", "ConnectorError: SMB connector LocalShare has no 'delete' method")
    assert (tmp_path / "share" / "in" / "a.csv").exists()
