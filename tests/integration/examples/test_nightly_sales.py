"""The four-job example flow (examples/flows/nightly_sales.yaml) end to end against SQLite, a local HTTP endpoint and
a local SMTP server; and every first-flow mistake, seeded into a copy of it, caught before anything runs."""

from __future__ import annotations

import io
import json
import sqlite3
import uuid
import zipfile
from pathlib import Path

import pytest

from tests.servers.httpserver import HttpTestServer
from tests.servers.smtp import SmtpServers
from tests.support.cli import FlowRun, aetherflow

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "flows" / "nightly_sales.yaml"
# 23:30 UTC on 1 March is 00:30 on 2 March in Berlin: run.date follows flow.timezone, not UTC
SLOT = "2026-03-01T23:30:00Z"
DAY = "2026-03-02"


def _sales_db(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE sales (id INTEGER, day TEXT, region TEXT, amount REAL)")
        rows = [(1, DAY, "north", 10.5), (2, DAY, 'so"uth, east', 7.0), (3, "2026-03-01", "west", 99.0)]
        conn.executemany("INSERT INTO sales VALUES (?, ?, ?, ?)", rows)
    return path


def _flow(tmp_path: Path, text: str | None = None) -> FlowRun:
    flow = tmp_path / "nightly_sales.yaml"
    flow.write_text(EXAMPLE.read_text(encoding="utf-8") if text is None else text, encoding="utf-8")
    return FlowRun(tmp_path, flow)


def _env(tmp_path: Path, http: HttpTestServer, smtp: SmtpServers, publish: str) -> dict[str, str]:
    return {
        "SALES_DB_PATH": str(_sales_db(tmp_path / "sales.sqlite")),
        "PUBLISH_BASE_URL": f"{http.url}{publish}",
        "PUBLISH_TOKEN": "publish-t0ken-" + uuid.uuid4().hex,
        "SMTP_HOST": smtp.host,
        "SMTP_PORT": str(smtp.starttls_port),
        "SMTP_USER": smtp.user,
        "SMTP_PASSWORD": smtp.password,
        "SMTP_CA_FILE": str(smtp.ca_file),
        "REPORT_TO": "reports@example.test",
        "ONCALL_TO": "oncall@example.test",
        "AETHERFLOW_SCHEDULED_AT": SLOT,
    }


def _statuses(flow: FlowRun) -> dict[str, str]:
    return {job: record["status"] for job, record in flow.show()["jobs"].items()}


def test_the_nightly_flow_extracts_zips_publishes_and_mails_the_day_of_its_time_zone(
    tmp_path: Path, http_server: HttpTestServer, smtp_server: SmtpServers
) -> None:
    tag = uuid.uuid4().hex
    flow = _flow(tmp_path)
    env = _env(tmp_path, http_server, smtp_server, f"/echo/{tag}")

    result = flow.run(env=env)

    assert result.code == 0, result.stderr
    assert _statuses(flow) == {
        "extract": "SUCCESS",
        "package": "SUCCESS",
        "publish": "SUCCESS",
        "notify": "SUCCESS",
        "alert": "SKIPPED",
    }
    path = f"/echo/{tag}/upload/sales_{DAY}.zip"
    [upload] = http_server.requests_to(http_server.url, path)
    assert upload["method"] == "PUT"
    with zipfile.ZipFile(io.BytesIO(upload["body"])) as archive:
        assert archive.namelist() == [f"sales_{DAY}.csv"]
        csv_text = archive.read(f"sales_{DAY}.csv").decode()
    assert csv_text.splitlines() == ["id,region,amount", "1,north,10.5", '2,"so""uth, east",7.0']
    [mail] = smtp_server.inbox.messages
    assert mail.rcpt_tos == ["reports@example.test"]
    assert mail.message["Subject"] == f"Sales {DAY}: 2 rows published"
    attachments = [part.get_filename() for part in mail.message.iter_attachments()]
    assert attachments == [f"sales_{DAY}.zip"]
    assert env["PUBLISH_TOKEN"] not in result.stderr and smtp_server.password not in result.stderr


def test_a_refused_upload_pages_on_call_and_the_run_still_fails(
    tmp_path: Path, http_server: HttpTestServer, smtp_server: SmtpServers
) -> None:
    flow = _flow(tmp_path)
    env = _env(tmp_path, http_server, smtp_server, "/status/401")

    result = flow.run(env=env)

    assert result.code == 3, result.stderr  # a 401 is permanent: Kubernetes must not retry the pod
    statuses = _statuses(flow)
    assert statuses["publish"] == "FAILED" and statuses["notify"] == "BLOCKED" and statuses["alert"] == "SUCCESS"
    [page] = smtp_server.inbox.messages
    assert page.rcpt_tos == ["oncall@example.test"]
    assert page.message["Subject"] == f"nightly_sales {DAY} failed (run r1)"


MISTAKES = {
    "a wrong result key": ('rows: "{{result.row_count}}"', 'rows: "{{result.rowz}}"', "template:unknown_output"),
    "an unknown job": (
        'items: ["{{jobs.extract.outputs.path}}"]',
        'items: ["{{jobs.extrct.outputs.path}}"]',
        "template:unknown_reference",
    ),
    "a format the step does not know": ("format: csv", "format: xlsx", "schema:"),
    "a typo in a connector config key": (
        'path: "{{env.SALES_DB_PATH',
        'pathh: "{{env.SALES_DB_PATH',
        "schema:extra_forbidden",
    ),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_a_seeded_mistake_is_reported_by_validate_and_run_executes_nothing(
    mistake: str, tmp_path: Path, http_server: HttpTestServer, smtp_server: SmtpServers
) -> None:
    good, bad, code = MISTAKES[mistake]
    text = EXAMPLE.read_text(encoding="utf-8")
    assert good in text
    flow = _flow(tmp_path, text.replace(good, bad, 1))
    env = _env(tmp_path, http_server, smtp_server, f"/echo/{uuid.uuid4().hex}")

    checked = aetherflow("validate", str(flow.flow), "--json", env=env)
    ran = flow.run(env=env)

    assert checked.code == 2, checked.stdout + checked.stderr
    assert code in checked.stdout, checked.stdout
    assert ran.code == 2, ran.stderr
    assert code in ran.stderr and "Traceback" not in ran.stderr
    assert not flow.state.exists() or flow.query("SELECT COUNT(*) FROM runs") == [(0,)]
    assert not (flow.work / "nightly_sales").exists()
    assert smtp_server.inbox.messages == []


def test_an_unset_secret_stops_the_run_before_anything_runs(
    tmp_path: Path, http_server: HttpTestServer, smtp_server: SmtpServers
) -> None:
    flow = _flow(tmp_path)
    env = _env(tmp_path, http_server, smtp_server, f"/echo/{uuid.uuid4().hex}")
    del env["PUBLISH_TOKEN"]

    checked = aetherflow("validate", str(flow.flow), "--json", env=env)
    ran = flow.run(env=env)

    assert checked.code == 0, checked.stdout  # validate warns: the variable may be set where the flow runs
    assert "semantic:missing_env" in checked.stdout and "PUBLISH_TOKEN" in checked.stdout
    assert ran.code == 2, ran.stderr
    assert "semantic:missing_env" in ran.stderr and "PUBLISH_TOKEN" in ran.stderr
    assert not flow.state.exists() or flow.query("SELECT COUNT(*) FROM runs") == [(0,)]
    assert not (flow.work / "nightly_sales").exists()


def test_the_example_validates_without_any_environment() -> None:
    checked = aetherflow("validate", str(EXAMPLE), "--json")
    assert checked.code == 0, checked.stdout + checked.stderr
    names = {finding["msg"] for finding in json.loads(checked.stdout)["warnings"]}
    assert any("PUBLISH_TOKEN" in name for name in names) and any("SMTP_PASSWORD" in name for name in names)


def test_the_walkthrough_shows_the_example_flow_as_it_is() -> None:
    page = (EXAMPLE.parents[2] / "docs" / "walkthrough.md").read_text(encoding="utf-8")
    assert "```yaml\n" + EXAMPLE.read_text(encoding="utf-8") + "```" in page
