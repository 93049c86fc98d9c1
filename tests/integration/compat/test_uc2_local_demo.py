"""A bundle in the shape of upstream's local use case 2 (CSV -> Excel template check -> SMB -> mail), whose plugin
step ``excel_validate_template`` is now also a built-in: the plugin replaces it with a warning, and a later step may
read the plugin's own output keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.plugins.upstream_shapes import UC2_LOCAL
from tests.servers.smtp import SmtpServers
from tests.support.cli import CliResult, aetherflow

pytest.importorskip("openpyxl")

MANIFEST = str(UC2_LOCAL / "manifest_local.yaml")


def _env(tmp_path: Path, smtp: SmtpServers | None = None) -> dict[str, str]:
    (tmp_path / "outbox").mkdir(exist_ok=True)
    env = {"AETHERFLOW_WORK_ROOT": str(tmp_path / "work"), "DEMO_OUTBOX": str(tmp_path / "outbox")}
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
    assert [(e["code"], e["loc"]) for e in report["errors"]] == [
        ("semantic:unknown_step_type", "jobs[0].steps[0].type"),
        ("semantic:unknown_resource", "jobs[0].steps[2].inputs.resource"),
        ("semantic:unknown_resource", "jobs[0].steps[3].inputs.resource"),
    ]
    assert report["errors"][0]["msg"].startswith("Unknown step type: demo_write_csv. Loaded: [")
    assert "INVALID:" in ran.stderr


def test_after_the_documented_fixes_the_plugin_step_replaces_the_built_in_and_the_run_is_green(
    tmp_path: Path, smtp_server: SmtpServers
) -> None:
    env = _env(tmp_path, smtp_server)

    synced = aetherflow("bundle", "sync", "--bundle-manifest", MANIFEST, env=env)
    ran = _run(tmp_path, env, "--flow-yaml", "flows/demo_local_fixed.yaml")

    assert synced.code == 0, synced.stderr
    assert ran.code == 0, ran.stderr
    assert [p.name for p in (tmp_path / "outbox" / "outbox").iterdir()] == ["report_template.xlsx"]
    [mail] = smtp_server.inbox.messages
    assert mail.message["Subject"] == "UC2 r1 template_ok=True"  # the plugin's own output key
    assert sorted(e["step_type"] for e in ran.event("plugin_overrides_builtin")) == [
        "excel_validate_template",
        "smb_upload_files",
    ]


def test_an_enterprise_bundle_refuses_the_override(tmp_path: Path) -> None:
    text = (UC2_LOCAL / "manifest_local.yaml").read_text()
    manifest = tmp_path / "enterprise.yaml"
    manifest.write_text(
        text.replace("mode: internal_fast", "mode: enterprise\npaths: {plugins: plugins}").replace(
            "base_path: .", f"base_path: {json.dumps(str(UC2_LOCAL))}"
        )
    )

    validated = aetherflow(
        "validate", "--bundle-manifest", str(manifest), "--flow-yaml", "flows/demo_local_fixed.yaml", env=_env(tmp_path)
    )

    assert validated.code == 2
    assert "plugin:duplicate" in validated.stdout
    assert "Step type already registered: excel_validate_template (a built-in;" in validated.stdout
