"""``aetherflow run`` end to end: single-file inputs (mail attachments, Excel template and source paths,
``http_request.body_file``) take no globs; a missing path or a directory fails the step at once (exit 3) naming it.

Each case fails before any connection, so the resources point at a closed port.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.excel.templates import blank_template
from tests.support.cli import FlowRun, make_flow

RESOURCES = """resources:
          mailer: {kind: mail, driver: smtp, config: {host: 127.0.0.1, port: 1, from_addr: runner@example.test}}
          api: {kind: rest, driver: http, config: {base_url: "http://127.0.0.1:1"}}"""

#: step -> (step type, inputs naming the file ``{p}`` (and an existing template ``{t}``), how errors name the input)
SINGLE: dict[str, tuple[str, str, str]] = {
    "mail_send.attachments": (
        "mail_send",
        'resource: mailer, to: a@example.test, subject: s, body: b, attachments: ["{p}"]',
        "mail_send attachment",
    ),
    "excel_validate_template.template_path": (
        "excel_validate_template",
        'template_path: "{p}", required_names: [A]',
        "template_path",
    ),
    "excel_fill_from_file.source_path": (
        "excel_fill_from_file",
        'template_path: "{t}", output: out.xlsx, targets: [{name: t, source_path: "{p}", source_format: tsv, '
        "mode: data_sheet, cell: A1}]",
        "target=t source_path",
    ),
    "http_request.body_file": (
        "http_request",
        'resource: api, method: POST, path: /echo, body_file: "{p}"',
        "http_request body_file",
    ),
}


def _flow(tmp_path: Path, case: str, path: Path) -> FlowRun:
    step_type, inputs, _ = SINGLE[case]
    template = blank_template(tmp_path / "work" / "tpl.xlsx")
    inputs = inputs.replace("{p}", str(path)).replace("{t}", str(template))
    return make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: single_e2e}}
        {RESOURCES}
        jobs:
          - id: job
            steps:
              - id: step
                type: {step_type}
                retry: {{max_attempts: 3, backoff_seconds: 0}}
                inputs: {{{inputs}}}
        """,
    )


def _failed_once(flow: FlowRun, code: int) -> str:
    [(status, attempts, error)] = flow.query("SELECT status, attempts, error FROM step_runs")
    assert (code, status, attempts) == (3, "FAILED", 1)
    assert isinstance(error, str)
    return error


@pytest.mark.parametrize("case", list(SINGLE))
def test_a_missing_file_fails_at_once_naming_it(tmp_path: Path, case: str) -> None:
    missing = tmp_path / "work" / "dir with spaces" / "Grüße ü.tsv"
    flow = _flow(tmp_path, case, missing)

    result = flow.run()

    error = _failed_once(flow, result.code)
    assert SINGLE[case][2] in error
    assert error.endswith(str(missing))


@pytest.mark.parametrize("case", list(SINGLE))
def test_a_directory_is_refused_naming_it(tmp_path: Path, case: str) -> None:
    directory = tmp_path / "work" / "a dir"
    directory.mkdir(parents=True)
    (directory / "inside.tsv").write_text("a\n1\n")
    flow = _flow(tmp_path, case, directory)

    result = flow.run()

    error = _failed_once(flow, result.code)
    assert error.endswith(f"is a directory, not a file: {directory}")


@pytest.mark.parametrize("case", list(SINGLE))
def test_a_glob_is_not_expanded_even_when_a_file_matches_it(tmp_path: Path, case: str) -> None:
    (tmp_path / "work").mkdir(parents=True)
    (tmp_path / "work" / "data.tsv").write_text("a\n1\n")
    pattern = tmp_path / "work" / "*.tsv"
    flow = _flow(tmp_path, case, pattern)

    result = flow.run()

    error = _failed_once(flow, result.code)
    assert error.endswith(str(pattern))


@pytest.mark.parametrize("case", list(SINGLE))
def test_a_path_climbing_out_of_the_sandbox_is_refused_at_once(tmp_path: Path, case: str) -> None:
    (tmp_path / "outside.tsv").write_text("a\n1\n")
    flow = _flow(tmp_path, case, Path("../../../../../outside.tsv"))

    result = flow.run()

    error = _failed_once(flow, result.code)
    assert "allowed roots" in error or "sandbox" in error
