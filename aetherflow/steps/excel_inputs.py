"""Input models of the Excel steps. Choice-valued inputs accept any letter case ("Below" is "below")."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from aetherflow.api import Inputs


class _Target(Inputs):
    """Keys shared by the targets of both fill steps."""

    name: str = "target"
    sheet: str | None = None
    anchor: str | None = None
    cell: str | None = None
    anchor_is_marker: bool | None = None
    template_has_header: bool | None = None
    insert: Literal["replace", "below"] | None = None
    header_mode: Literal["template", "override", "append"] | None = None
    header_style: Literal["template", "style_row"] = "template"
    header_clear: bool = True
    header_clear_width: int | None = Field(None, ge=0, le=16_384)
    anchor_clear: bool = False
    anchor_clear_mode: Literal["cell", "row"] = "cell"
    anchor_clear_width: int = Field(1, ge=0, le=16_384)
    columns_json: Any = None
    type_cast: Literal["none", "basic", "schema"] | None = None
    dtypes: Any = None
    dtypes_json: Any = None
    style_mode: Literal["none", "copy_row"] = "none"
    style_row_offset: int = 2
    style_apply: Literal["data", "header", "both"] = "data"
    clear_style_row: bool = False
    row_count: int | None = Field(None, ge=0)

    @field_validator(
        "insert",
        "header_mode",
        "header_style",
        "anchor_clear_mode",
        "type_cast",
        "style_mode",
        "style_apply",
        mode="before",
    )
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


class SmallTarget(_Target):
    """One target of ``excel_fill_small``: rows in memory (JSON text or a list)."""

    rows_json: Any
    max_rows: int | None = Field(None, ge=0)
    max_total_rows: int | None = Field(None, ge=0)
    max_cols: int | None = Field(None, ge=0)


class FileOptions(Inputs):
    """How a CSV/TSV source is read (also accepted at the target's top level, which wins)."""

    encoding: str | None = None
    delimiter: str | None = None
    quotechar: str | None = None
    escapechar: str | None = None
    doublequote: bool | None = None
    quoting: str | None = None
    linefeed: str | None = None


class FileTarget(_Target, FileOptions):
    """One target of ``excel_fill_from_file``: rows streamed from a CSV, TSV or Parquet file."""

    source_path: str
    source_format: Literal["csv", "tsv", "parquet"] | None = None
    mode: Literal["data_sheet", "report_region"] = "data_sheet"
    data_sheet_prefix: str = "DATA_"
    read_header: bool = True
    include_header: bool | None = None
    columns: Any = None
    count_mode: Literal["fast", "csv_parse"] = "fast"
    rows_threshold: int | None = Field(None, ge=0)
    fail_on_threshold: bool = True
    autofilter: bool = True
    freeze_panes: bool = True
    header_bold: bool = True
    file: FileOptions | None = None

    @field_validator("mode", "source_format", "count_mode", mode="before")
    @classmethod
    def _lower_file(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    def file_option(self, key: str, default: Any) -> Any:
        """A read option from the target's top level, else its ``file:`` block, else ``default``."""
        value = getattr(self, key)
        if value is None and self.file is not None:
            value = getattr(self.file, key)
        return default if value is None else value


class ExcelValidateTemplateInputs(Inputs):
    """Inputs of ``excel_validate_template``."""

    template_path: str
    required_names: Any
    sheet: str | None = None


class ExcelFillSmallInputs(Inputs):
    """Inputs of ``excel_fill_small``."""

    template_path: str
    output: str
    targets: list[SmallTarget]


class ExcelFillFromFileInputs(Inputs):
    """Inputs of ``excel_fill_from_file``."""

    template_path: str
    output: str
    targets: list[FileTarget]
    rows_threshold: int = Field(50_000, ge=0)
