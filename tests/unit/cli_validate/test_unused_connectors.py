"""``aetherflow validate``: an unknown or incomplete connector fails only a resource some step uses."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from aetherflow.cli import main

HEAD = "version: 1\nflow: {id: f}\n"
UNKNOWN = "resources:\n  db: {kind: db, driver: oracle9}\n"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("AETHERFLOW_"):
            monkeypatch.delenv(name)


def _validate(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    path = tmp_path / "flow.yaml"
    path.write_text(text, encoding="utf-8")
    code = main(["validate", "--json", str(path)])
    return code, json.loads(capsys.readouterr().out)


def _codes(report: dict[str, Any], kind: str) -> list[str]:
    return [issue["code"] for issue in report[kind]]


def _job(step: str) -> str:
    return f"jobs:\n  - id: a\n    steps:\n      - {step}\n"


def test_an_unknown_connector_no_step_uses_is_a_warning_and_validation_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = _validate(
        tmp_path, HEAD + UNKNOWN + _job("{id: s, type: check_items, inputs: {items: [x]}}"), capsys
    )

    assert code == 0
    assert _codes(report, "errors") == []
    assert _codes(report, "warnings") == ["semantic:unknown_connector"]
    assert "db:oracle9" in report["warnings"][0]["msg"]


def test_an_unknown_connector_a_step_names_is_an_error_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    step = "{id: s, type: db_extract, inputs: {resource: db, sql: SELECT 1, output: out.tsv}}"
    code, report = _validate(tmp_path, HEAD + UNKNOWN + _job(step), capsys)

    assert code == 2
    assert _codes(report, "errors") == ["semantic:unknown_connector"]


def test_a_templated_resource_input_makes_every_resource_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    step = "{id: s, type: db_extract, inputs: {resource: '{{env.DB}}', sql: SELECT 1, output: out.tsv}}"
    code, report = _validate(tmp_path, HEAD + UNKNOWN + _job(step), capsys)

    assert code == 2
    assert _codes(report, "errors") == ["semantic:unknown_connector"]


def test_a_zip_step_uses_archive_default_but_not_other_resources(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    resources = "resources:\n  archive_default: {kind: archive, driver: nope}\n  other: {kind: archive, driver: nope}\n"
    step = "{id: z, type: zip, inputs: {items: [a], dest_path: out.zip}}"
    code, report = _validate(tmp_path, HEAD + resources + _job(step), capsys)

    assert code == 2
    assert [(i["code"], i["loc"]) for i in report["errors"]] == [
        ("semantic:unknown_connector", "resources.archive_default.driver")
    ]
    assert [(i["code"], i["loc"]) for i in report["warnings"]] == [
        ("semantic:unknown_connector", "resources.other.driver")
    ]


def test_a_step_inside_with_lock_uses_the_resource_it_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inner = "{id: q, type: db_extract, inputs: {resource: db, sql: SELECT 1, output: out.tsv}}"
    step = f"{{id: s, type: with_lock, inputs: {{lock_key: k, step: {inner}}}}}"
    code, report = _validate(tmp_path, HEAD + UNKNOWN + _job(step), capsys)

    assert code == 2
    assert _codes(report, "errors") == ["semantic:unknown_connector"]


def test_a_missing_extra_on_an_unused_resource_is_a_warning_naming_the_extra(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    resources = "resources:\n  packer: {kind: archive, driver: pyminizip}\n"
    code, report = _validate(
        tmp_path, HEAD + resources + _job("{id: s, type: check_items, inputs: {items: [x]}}"), capsys
    )

    assert code == 0
    assert _codes(report, "warnings") == ["semantic:missing_extra"]
    assert "install aetherflow[pyminizip]" in report["warnings"][0]["msg"]


def test_a_missing_extra_on_a_used_resource_is_an_error_naming_the_extra(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    resources = "resources:\n  packer: {kind: archive, driver: pyminizip}\n"
    step = "{id: z, type: zip, inputs: {items: [a], dest_path: out.zip, connector: packer}}"
    code, report = _validate(tmp_path, HEAD + resources + _job(step), capsys)

    assert code == 2
    assert _codes(report, "errors") == ["semantic:missing_extra"]
    assert "install aetherflow[pyminizip]" in report["errors"][0]["msg"]
