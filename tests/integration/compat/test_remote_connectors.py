"""Upstream-style connectors built on ``require``/``require_attr`` and ``init.ctx.log`` reach real servers: a zip
found locally goes to Samba through pysmb, an Excel template is checked with openpyxl, a mail goes out by smtplib."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from tests.plugins.upstream_shapes import REMOTE_PLUGINS
from tests.servers.smb import SmbServer
from tests.servers.smtp import SmtpServers
from tests.support.cli import make_flow

pytest.importorskip("smb")
openpyxl = pytest.importorskip("openpyxl")


def _template(path: Path) -> None:
    workbook = openpyxl.Workbook()
    workbook.active["A1"] = "Sales"
    workbook.defined_names["SALES"] = openpyxl.workbook.defined_name.DefinedName("SALES", attr_text="Sheet!$A$1")
    workbook.save(path)


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.csv", "a,b\n1,2\n")
    return buffer.getvalue()


def test_the_remote_demo_connectors_and_steps_run_against_samba_and_smtp(
    tmp_path: Path, smb_server: SmbServer, smb_dir: str, smtp_server: SmtpServers
) -> None:
    incoming = tmp_path / "incoming"
    (incoming / "nested").mkdir(parents=True)
    payload = _zip()
    (incoming / "nested" / "payload.zip").write_bytes(payload)
    _template(tmp_path / "template.xlsx")
    flow = make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: remote_connectors}}
        resources:
          share:
            kind: smb
            driver: smb-pysmb
            config:
              server: "{smb_server.host}"
              port: {smb_server.port}
              user: "{smb_server.user}"
              password: "{{{{env.SMB_PASS}}}}"
              share: "{smb_server.share}"
          mailer:
            kind: mail
            driver: mail-dummy
            config: {{host: "{smtp_server.host}", port: {smtp_server.plain_port}, from_addr: "flow@example.com"}}
        jobs:
          - id: ship
            steps:
              - id: find
                type: fs_find_zipfiles
                inputs: {{src_dir: "{incoming}"}}
              - id: check
                type: excel_validate_template_custom
                inputs: {{template_path: "{tmp_path / "template.xlsx"}", required_names: [SALES]}}
              - id: upload
                type: smb_upload_files_custom
                inputs:
                  resource: share
                  local_files: ["{incoming / "nested" / "payload.zip"}"]
                  remote_dir: "{smb_dir}"
              - id: notify
                type: mail_send_dummy
                inputs: {{resource: mailer, to: [ops@example.com], subject: "found {{{{steps.find.count}}}}", body: ok}}
        """,
    )

    result = flow.run(env={"AETHERFLOW_PLUGIN_PATHS": str(REMOTE_PLUGINS), "SMB_PASS": smb_server.password})

    assert result.code == 0, result.stderr
    assert smb_server.files(smb_dir) == {"payload.zip": payload}
    [mail] = smtp_server.inbox.messages
    assert (mail.rcpt_tos, mail.message["Subject"]) == (["ops@example.com"], "found 1")
    assert smb_server.password not in result.stderr + result.stdout


def test_a_template_missing_a_required_name_fails_the_step_with_the_plugins_message(tmp_path: Path) -> None:
    _template(tmp_path / "template.xlsx")
    flow = make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: template_check}}
        jobs:
          - id: j
            steps:
              - id: check
                type: excel_validate_template_custom
                inputs: {{template_path: "{tmp_path / "template.xlsx"}", required_names: [SALES, COST]}}
        """,
    )

    result = flow.run(env={"AETHERFLOW_PLUGIN_PATHS": str(REMOTE_PLUGINS)})

    assert result.code == 1
    [failed] = [e for e in result.event("step_end") if e["step_id"] == "check"]
    assert failed["status"] == "FAILED"
    assert "Template template.xlsx misses names: ['COST']" in failed["error"]
