"""A bundle in the shape of upstream's local use case 1 (SFTP -> unzip -> transform -> zip -> SMB -> mail): as
shipped it is refused by validation with the problems upstream only meets at run time; after the documented fixes
``bundle sync`` then ``run --bundle-manifest`` run it green, its plugin steps replacing built-ins with a warning."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

from tests.plugins.upstream_shapes import UC1_LOCAL
from tests.servers.smtp import SmtpServers
from tests.support.cli import CliResult, aetherflow
from tests.support.upstream import export, needs_upstream

MANIFEST = str(UC1_LOCAL / "manifest_local.yaml")


def _env(tmp_path: Path, smtp: SmtpServers | None = None) -> dict[str, str]:
    (tmp_path / "inbox").mkdir(exist_ok=True)
    (tmp_path / "outbox").mkdir(exist_ok=True)
    env = {
        "AETHERFLOW_WORK_ROOT": str(tmp_path / "work"),
        "DEMO_INBOX": str(tmp_path / "inbox"),
        "DEMO_OUTBOX": str(tmp_path / "outbox"),
    }
    if smtp is not None:
        env |= {"SMTP_HOST": smtp.host, "SMTP_PORT": str(smtp.plain_port)}
    return env


def _run(tmp_path: Path, env: dict[str, str], *flow: str) -> CliResult:
    return aetherflow(
        "run", "--bundle-manifest", MANIFEST, *flow, "--state", str(tmp_path / "s.db"), "--run-id", "r1", env=env
    )


def test_the_demo_as_shipped_is_refused_before_anything_runs(tmp_path: Path) -> None:
    env = _env(tmp_path)

    validated = aetherflow("validate", "--bundle-manifest", MANIFEST, "--json", env=env)
    ran = _run(tmp_path, env)

    assert (validated.code, ran.code) == (2, 2)
    report = json.loads(validated.stdout)
    assert sorted((e["code"], e["loc"]) for e in report["errors"]) == [
        ("schema:extra_forbidden", "jobs[0].steps[3].inputs.dst"),
        ("schema:extra_forbidden", "jobs[0].steps[3].inputs.src"),
        ("schema:extra_forbidden", "jobs[0].steps[5].inputs.dst"),
        ("schema:extra_forbidden", "jobs[0].steps[5].inputs.src"),
        ("semantic:missing_required_input", "jobs[0].steps[3].inputs"),
        ("semantic:missing_required_input", "jobs[0].steps[5].inputs"),
        ("semantic:unknown_resource", "jobs[0].steps[1].inputs.resource"),
        ("semantic:unknown_resource", "jobs[0].steps[2].inputs.resource"),
        ("semantic:unknown_resource", "jobs[0].steps[6].inputs.resource"),
        ("semantic:unknown_resource", "jobs[0].steps[7].inputs.resource"),
    ]
    unknown = sorted({e["msg"] for e in report["errors"] if e["code"] == "semantic:unknown_resource"})
    assert unknown == [  # upstream's wording, which upstream only reports when the step runs
        "Unknown resource: mail_dummy. Known: []",
        "Unknown resource: sftp_local. Known: []",
        "Unknown resource: smb_local. Known: []",
    ]
    missing = [e["msg"] for e in report["errors"] if e["code"] == "semantic:missing_required_input"]
    # upstream's run-time message; a built-in step's missing input is an error
    assert missing == [
        "Step unzip missing inputs: ['archives', 'dest_dir']",
        "Step zip missing inputs: ['dest_path', 'items']",
    ]
    messages = [w["msg"] for w in report["warnings"]]
    assert sorted(m.split("'")[1] for m in messages if "overrides the built-in" in m) == [
        "sftp_download_files",
        "sftp_list_files",
        "smb_upload_files",
    ]
    assert "INVALID:" in ran.stderr
    assert not (tmp_path / "inbox" / "inbox").exists()


def test_after_the_documented_fixes_sync_then_run_is_green(tmp_path: Path, smtp_server: SmtpServers) -> None:
    env = _env(tmp_path, smtp_server)

    synced = aetherflow("bundle", "sync", "--bundle-manifest", MANIFEST, env=env)
    ran = _run(tmp_path, env, "--flow-yaml", "flows/demo_local_fixed.yaml")

    assert synced.code == 0, synced.stderr
    assert ran.code == 0, ran.stderr
    [payload] = (tmp_path / "outbox" / "outbox").iterdir()
    assert payload.name == "payload_r1.zip"
    with zipfile.ZipFile(io.BytesIO(payload.read_bytes())) as archive:
        [member] = [n for n in archive.namelist() if n.endswith("sample.csv")]
        assert archive.read(member).decode() == "COL1,COL2\n1,hello\n2,world\n"
    [mail] = smtp_server.inbox.messages
    assert mail.message["Subject"] == "UC1 r1"
    overrides = ran.event("plugin_overrides_builtin")
    assert sorted(e["step_type"] for e in overrides) == ["sftp_download_files", "sftp_list_files", "smb_upload_files"]
    assert {e["level"] for e in overrides} == {"WARNING"}


@needs_upstream
def test_upstreams_own_uc1_plugins_run_the_fixed_demo_green(tmp_path: Path, smtp_server: SmtpServers) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(UC1_LOCAL, bundle, ignore=shutil.ignore_patterns("plugins", "__pycache__"))
    shutil.copytree(export("demo/usecase-multiflows-local/uc1/plugins", tmp_path / "upstream"), bundle / "plugins")
    env = _env(tmp_path, smtp_server)
    manifest = str(bundle / "manifest_local.yaml")

    ran = aetherflow(
        "run",
        "--bundle-manifest",
        manifest,
        "--flow-yaml",
        "flows/demo_local_fixed.yaml",
        "--state",
        str(tmp_path / "s.db"),
        "--run-id",
        "r1",
        env=env,
    )

    assert ran.code == 0, ran.stderr
    assert [p.name for p in (tmp_path / "outbox" / "outbox").iterdir()] == ["payload_r1.zip"]
    assert len(smtp_server.inbox.messages) == 1
