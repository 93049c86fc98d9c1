"""``excel_validate_template``: named ranges and anchor texts the template must have."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aetherflow.steps.excel_template import ExcelInputError
from tests.integration.excel.conftest import ExcelHarness
from tests.integration.excel.templates import named_anchor_template, openpyxl, region_template, save


def _template(harness: ExcelHarness) -> Path:
    path = region_template(harness.artifacts / "tpl.xlsx")
    wb = openpyxl.load_workbook(path)
    wb.create_sheet("Other")["C3"].value = "OTHER_ANCHOR"
    from openpyxl.workbook.defined_name import DefinedName

    wb.defined_names.add(DefinedName("qc_start", attr_text="Report!$A$6"))
    return save(wb, path)


def _validate(harness: ExcelHarness, template: Path, names: Any, **extra: Any) -> Any:
    return harness.run("excel_validate_template", template_path=str(template), required_names=names, **extra)


def test_named_ranges_and_anchor_texts_are_reported_sorted(harness: ExcelHarness) -> None:
    result = _validate(harness, _template(harness), ["QIP_ANCHOR", "qc_start", "OTHER_ANCHOR"])

    assert result.output == {
        "template_ok": True,
        "found_named_ranges": ["qc_start"],
        "found_anchor_cells": ["OTHER_ANCHOR", "QIP_ANCHOR"],
    }


def test_required_names_may_be_json_text_or_one_plain_name(harness: ExcelHarness) -> None:
    template = _template(harness)

    assert _validate(harness, template, '["qc_start"]').output["found_named_ranges"] == ["qc_start"]
    assert _validate(harness, template, "QIP_ANCHOR").output["found_anchor_cells"] == ["QIP_ANCHOR"]


def test_a_missing_name_fails_naming_it(harness: ExcelHarness) -> None:
    template = _template(harness)

    with pytest.raises(ExcelInputError, match=r"^Template missing named ranges or anchor cells: \['NOPE'\]"):
        _validate(harness, template, ["QIP_ANCHOR", "NOPE"])


def test_sheet_limits_the_anchor_text_search_but_not_the_named_ranges(harness: ExcelHarness) -> None:
    template = _template(harness)

    with pytest.raises(ExcelInputError, match=r"\['OTHER_ANCHOR'\]"):
        _validate(harness, template, ["OTHER_ANCHOR", "qc_start"], sheet="Report")


def test_an_unknown_sheet_names_the_sheets_there_are(harness: ExcelHarness) -> None:
    with pytest.raises(ExcelInputError, match=r"sheet not found: 'Nope'. Sheets: \['Report'\]"):
        _validate(harness, named_anchor_template(harness.artifacts / "t.xlsx"), ["tbl_anchor"], sheet="Nope")


def test_required_names_of_the_wrong_shape_are_an_error(harness: ExcelHarness) -> None:
    with pytest.raises(ExcelInputError, match="required_names must be a list of names"):
        _validate(harness, named_anchor_template(harness.artifacts / "t.xlsx"), '{"a": 1}')


def test_a_template_declaring_xml_entities_is_refused(harness: ExcelHarness) -> None:
    import zipfile

    plain = named_anchor_template(harness.artifacts / "plain.xlsx")
    hostile = harness.artifacts / "entities.xlsx"
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(hostile, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/workbook.xml":  # the start of a "billion laughs", kept harmless here
                data = b'<!DOCTYPE workbook [<!ENTITY lol "lol">]>' + data
            dst.writestr(item, data)

    with pytest.raises(ExcelInputError, match=f"^template_path {hostile} is not a readable .xlsx workbook"):
        _validate(harness, hostile, ["tbl_anchor"])


def test_without_openpyxl_the_step_fails_naming_the_extra(
    harness: ExcelHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aetherflow.api import StepFailed

    template = named_anchor_template(harness.artifacts / "t.xlsx")
    monkeypatch.setitem(__import__("sys").modules, "openpyxl", None)

    with pytest.raises(
        StepFailed,
        match=r"^the Excel steps need openpyxl: install the 'excel' extra \(pip install 'aetherflow\[excel\]'\)$",
    ):
        _validate(harness, template, ["tbl_anchor"])


def test_without_defusedxml_templates_are_not_read(harness: ExcelHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    from aetherflow.api import StepFailed

    template = named_anchor_template(harness.artifacts / "t.xlsx")
    monkeypatch.setattr(openpyxl, "DEFUSEDXML", False)

    with pytest.raises(
        StepFailed, match=r"^the Excel steps need defusedxml to read templates safely: install the 'excel'"
    ):
        _validate(harness, template, ["tbl_anchor"])
