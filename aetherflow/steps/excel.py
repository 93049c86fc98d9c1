"""The Excel reporting steps (extra ``excel``, openpyxl imported when a step runs):

* ``excel_validate_template``: the template has every required named range or anchor text;
* ``excel_fill_small``: small in-memory tables (e.g. ``db_fetch_small``'s ``rows_json``) into template regions;
* ``excel_fill_from_file``: CSV/TSV/Parquet files into ``DATA_*`` sheets (``data_sheet``) or into template
  regions (``report_region``, refused over ``rows_threshold`` before anything is written).

The filled workbook is written through a temporary file and renamed, so a failed target leaves no report.
"""

from __future__ import annotations

from typing import Any

from aetherflow.api import Step, StepContext, StepResult
from aetherflow.steps.excel_cast import parse_json_text, row_caster, schema_of
from aetherflow.steps.excel_inputs import (
    ExcelFillFromFileInputs,
    ExcelFillSmallInputs,
    ExcelValidateTemplateInputs,
    FileTarget,
    SmallTarget,
)
from aetherflow.steps.excel_region import OverlapGuard, Region, Styling
from aetherflow.steps.excel_source import FORMATS, SourceFile
from aetherflow.steps.excel_template import (
    ExcelInputError,
    ReportTooLargeError,
    input_file,
    is_named,
    load_workbook,
    locate,
    named_ranges,
    normalize,
    save_workbook,
    text_cells,
    worksheet,
)

__all__ = ["ExcelFillFromFile", "ExcelFillSmall", "ExcelInputError", "ExcelValidateTemplate", "ReportTooLargeError"]


def _required_names(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            value = parse_json_text(value, "required_names")
        except ValueError:
            value = [value]  # one name given as plain text
        if isinstance(value, str):
            value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ExcelInputError(f"required_names must be a list of names (or its JSON text), got {value!r}")
    return value


class ExcelValidateTemplate(Step[ExcelValidateTemplateInputs]):
    """Check that the template has every required named range or anchor text; fails naming the missing ones."""

    inputs_model = ExcelValidateTemplateInputs
    result_keys = frozenset({"template_ok", "found_named_ranges", "found_anchor_cells"})

    def run(self, inputs: ExcelValidateTemplateInputs, ctx: StepContext) -> StepResult:
        required = _required_names(inputs.required_names)
        path = input_file(ctx, inputs.template_path, "template_path")
        wb = load_workbook(path, "template_path", data_only=True)
        if inputs.sheet:
            worksheet(wb, inputs.sheet)
        names = {name.lower() for name in named_ranges(wb)}
        texts = {text.upper() for _, _, _, text in text_cells(wb, inputs.sheet)}
        found_named = [n for n in required if normalize(n).lower() in names]
        found_anchor = [n for n in required if n not in found_named and normalize(n).upper() in texts]
        missing = [n for n in required if n not in found_named and n not in found_anchor]
        if missing:
            raise ExcelInputError(f"Template missing named ranges or anchor cells: {missing} (template {path})")
        return StepResult.success(
            template_ok=True, found_named_ranges=sorted(found_named), found_anchor_cells=sorted(found_anchor)
        )


def _styling(t: SmallTarget | FileTarget) -> Styling:
    return Styling(t.style_mode, t.style_apply, t.style_row_offset, t.clear_style_row, t.header_style)


def _columns(value: Any, label: str) -> list[str] | None:
    try:
        parsed = parse_json_text(value, "columns")
    except ValueError as exc:
        raise ExcelInputError(f"{label}: {exc}") from None
    if parsed is None:
        return None
    if not isinstance(parsed, list):
        raise ExcelInputError(f"{label}: columns must be a list of names, got {type(parsed).__name__}")
    return [str(c) for c in parsed]


def _small_rows(value: Any, columns: list[str] | None, label: str) -> list[list[Any]]:
    try:
        parsed = parse_json_text(value, "rows_json")
    except ValueError as exc:
        raise ExcelInputError(f"{label}: {exc}") from None
    if parsed is None:
        return []
    if not isinstance(parsed, list):
        raise ExcelInputError(f"{label}: rows_json must be a list of rows, got {type(parsed).__name__}")
    rows: list[list[Any]] = []
    for i, row in enumerate(parsed):
        if isinstance(row, list):
            rows.append(row)
        elif isinstance(row, dict) and columns is not None:
            rows.append([row.get(c) for c in columns])
        else:
            kind = "an object without columns_json" if isinstance(row, dict) else type(row).__name__
            raise ExcelInputError(f"{label}: rows_json row {i + 1} must be a list of values, got {kind}")
    return rows


def _common(t: SmallTarget | FileTarget, label: str) -> tuple[dict[str, str], str]:
    try:
        schema = schema_of(t.dtypes, t.dtypes_json)
    except ValueError as exc:
        raise ExcelInputError(f"{label}: {exc}") from None
    return schema, t.type_cast or ("schema" if schema else "none")


def _record(region: Region, t: SmallTarget | FileTarget, **extra: Any) -> dict[str, Any]:
    return {
        "name": t.name,
        "sheet": region.ws.title,
        "rows": region.block_rows,
        "data_rows": region.data_rows,
        "cols": region.width,
        "start_cell": [region.r0, region.c0],
        "template_has_header": region.template_has_header,
        "header_style": t.header_style,
        "style_mode": t.style_mode,
        **extra,
    }


class ExcelFillSmall(Step[ExcelFillSmallInputs]):
    """Fill template regions with small tables given as JSON rows; output ``{output, written}``."""

    inputs_model = ExcelFillSmallInputs
    result_keys = frozenset({"output", "written"})

    def run(self, inputs: ExcelFillSmallInputs, ctx: StepContext) -> StepResult:
        path = input_file(ctx, inputs.template_path, "template_path")
        wb = load_workbook(path, "template_path")
        guard = OverlapGuard("excel_fill_small")
        written = [self._target(wb, t, ctx, guard) for t in inputs.targets]
        out = save_workbook(wb, ctx, inputs.output)
        return StepResult.success(output=str(out), written=written)

    def _target(self, wb: Any, t: SmallTarget, ctx: StepContext, guard: OverlapGuard) -> dict[str, Any]:
        label = f"excel_fill_small target={t.name}"
        if bool(t.anchor) == bool(t.cell):
            raise ExcelInputError(f"{label}: set exactly one of anchor or cell")
        for limit, key in ((t.max_rows, "max_rows"), (t.max_total_rows, "max_total_rows")):
            if limit is not None and t.row_count is not None and t.row_count > limit:
                raise ExcelInputError(f"{label}: row_count={t.row_count} exceeds {key}={limit}")
        columns = _columns(t.columns_json, label)
        schema, type_cast = _common(t, label)
        cast = row_caster(type_cast, columns, schema)
        data = [cast(list(row)) for row in _small_rows(t.rows_json, columns, label)]
        header_mode = t.header_mode or "template"
        write_header = header_mode in ("override", "append") and columns is not None
        width = max([len(columns) if write_header and columns else 0, *(len(r) for r in data)])
        _check_limits(label, t, len(data), len(data) + (1 if write_header else 0), width)
        ws, r_anchor, c0 = locate(wb, sheet=t.sheet, anchor=t.anchor, cell=t.cell, enterprise=ctx.enterprise)
        marker = t.anchor_is_marker if t.anchor_is_marker is not None else bool(t.anchor) and not is_named(wb, t.anchor)
        has_header = t.template_has_header if t.template_has_header is not None else bool(t.anchor) and marker
        region = Region(label, ws, r_anchor, c0, marker, has_header, write_header, _styling(t), width=width)
        if t.anchor_clear and t.anchor:
            region.clear_anchor(t.anchor_clear_mode, t.anchor_clear_width)
        region.capture_style(width)
        insert = t.insert or "replace"
        region.insert(insert, len(data))
        if write_header and columns is not None:
            region.write_header(columns, t.header_clear, t.header_clear_width)
        region.write_rows(data, ctx.cancelled)
        region.finish()
        guard.check(t.name, ws.title, region.rect())
        return _record(region, t, insert=insert, header_mode=header_mode, type_cast=type_cast)


def _check_limits(label: str, t: SmallTarget, data_rows: int, total_rows: int, width: int) -> None:
    checks = (
        (t.max_rows, data_rows, "data rows", "max_rows"),
        (t.max_total_rows, total_rows, "rows", "max_total_rows"),
    )
    for limit, count, what, key in (*checks, (t.max_cols, width, "columns", "max_cols")):
        if limit is not None and count > limit:
            raise ExcelInputError(f"{label}: {count} {what} exceed {key}={limit}")


class ExcelFillFromFile(Step[ExcelFillFromFileInputs]):
    """Stream CSV/TSV/Parquet files into ``DATA_*`` sheets or template regions; output ``{output, written}``."""

    inputs_model = ExcelFillFromFileInputs
    result_keys = frozenset({"output", "written"})

    def run(self, inputs: ExcelFillFromFileInputs, ctx: StepContext) -> StepResult:
        path = input_file(ctx, inputs.template_path, "template_path")
        wb = load_workbook(path, "template_path")
        guard = OverlapGuard("excel_fill_from_file")
        written = [self._target(wb, t, ctx, guard, inputs.rows_threshold) for t in inputs.targets]
        out = save_workbook(wb, ctx, inputs.output)
        return StepResult.success(output=str(out), written=written)

    def _target(self, wb: Any, t: FileTarget, ctx: StepContext, guard: OverlapGuard, threshold: int) -> dict[str, Any]:
        label = f"excel_fill_from_file target={t.name}"
        source = _source(ctx, t, label)
        read_header, header_mode = _header_choice(t)
        region_mode = t.mode == "report_region"
        schema, type_cast = _common(t, label)
        ws, r_anchor, c0, anchor = _file_location(wb, t, ctx, label)
        insert = t.insert or ("below" if region_mode else "replace")
        count = None
        if region_mode:
            count = t.row_count if t.row_count is not None else _count(source, t, read_header, label)
            limit = t.rows_threshold if t.rows_threshold is not None else threshold
            if t.fail_on_threshold and count > limit:
                raise ReportTooLargeError(target=t.name, source=source.path, row_count=count, rows_threshold=limit)
        header, rows = _read(source, read_header, label)
        columns = (
            header if header is not None else _columns(t.columns if t.columns is not None else t.columns_json, label)
        )
        cast = row_caster(type_cast, columns, schema)
        marker, has_header = _file_layout(wb, t, anchor)
        write_header = header_mode in ("override", "append") and header is not None
        region = Region(label, ws, r_anchor, c0, marker, has_header, write_header, _styling(t))
        if t.anchor_clear and anchor:
            region.clear_anchor(t.anchor_clear_mode, t.anchor_clear_width)
        region.capture_style(max(ws.max_column - c0 + 1, len(header or ()), 1))
        if region_mode and count is not None:
            region.insert(insert, count)
        if write_header and header is not None:
            region.write_header(header, t.header_clear, t.header_clear_width)
        try:
            region.write_rows((cast(row) for row in rows), ctx.cancelled)
        except ValueError as exc:
            raise ExcelInputError(f"{label}: {exc}") from None
        if region_mode and insert == "below" and count is not None and region.data_rows > count:
            raise ExcelInputError(
                f"{label}: {source.path} has {region.data_rows} data rows but {count} were counted; the rows past "
                "them would overwrite the template below (set row_count right, or count_mode: csv_parse)"
            )
        region.finish()
        if not (t.mode == "data_sheet" and insert == "replace"):
            guard.check(t.name, ws.title, region.rect())
        if t.mode == "data_sheet":
            _data_sheet_finish(region, t)
        return _record(region, t, mode=t.mode, insert=insert, header_mode=header_mode, type_cast=type_cast)


def _header_choice(t: FileTarget) -> tuple[bool, str]:
    """(read the file's header line, header_mode) with the mode's default."""
    if t.include_header is not None:  # the older spelling: one switch for reading and writing the header
        return t.include_header, "append" if t.include_header else "template"
    return t.read_header, t.header_mode or ("template" if t.mode == "report_region" else "append")


def _file_layout(wb: Any, t: FileTarget, anchor: str | None) -> tuple[bool, bool]:
    """(anchor_is_marker, template_has_header): an anchor text in a report region marks the row above a template
    header; a named range, a cell, or a data sheet is where writing starts."""
    in_region = bool(anchor) and t.mode == "report_region"
    marker = t.anchor_is_marker if t.anchor_is_marker is not None else in_region and not is_named(wb, anchor)
    has_header = t.template_has_header if t.template_has_header is not None else in_region and marker
    return marker, has_header


def _source(ctx: StepContext, t: FileTarget, label: str) -> SourceFile:
    path = input_file(ctx, t.source_path, f"{label} source_path")
    fmt = t.source_format or path.suffix.lstrip(".").lower() or "tsv"
    if fmt not in FORMATS:
        raise ExcelInputError(f"{label}: cannot tell the format of {path}; set source_format to one of {list(FORMATS)}")
    return SourceFile(
        path,
        fmt,
        encoding=str(t.file_option("encoding", "utf-8")),
        delimiter=t.file_option("delimiter", None),
        quotechar=str(t.file_option("quotechar", '"')),
        escapechar=t.file_option("escapechar", None),
        doublequote=bool(t.file_option("doublequote", True)),
        quoting=str(t.file_option("quoting", "minimal")),
        linefeed=str(t.file_option("linefeed", "\n")),
    )


def _file_location(wb: Any, t: FileTarget, ctx: StepContext, label: str) -> tuple[Any, int, int, str | None]:
    if t.anchor and t.cell:
        raise ExcelInputError(f"{label}: set exactly one of anchor or cell")
    sheet, cell = t.sheet, t.cell
    if t.mode == "data_sheet":
        sheet = sheet or f"{t.data_sheet_prefix}{t.name}"
        if sheet not in wb.sheetnames:
            try:
                wb.create_sheet(sheet)
            except ValueError as exc:
                raise ExcelInputError(f"{label}: cannot create sheet {sheet!r}: {exc}") from None
        cell = cell if t.anchor or cell else "A1"
    elif not t.anchor and not cell:
        raise ExcelInputError(f"{label}: mode report_region needs anchor or cell")
    ws, row, col = locate(wb, sheet=sheet, anchor=t.anchor, cell=cell, enterprise=ctx.enterprise)
    return ws, row, col, t.anchor


def _count(source: SourceFile, t: FileTarget, read_header: bool, label: str) -> int:
    try:
        return source.count(t.count_mode, read_header)
    except ValueError as exc:
        raise ExcelInputError(f"{label}: {exc}") from None


def _read(source: SourceFile, read_header: bool, label: str) -> tuple[list[str] | None, Any]:
    try:
        header, rows = source.rows(read_header)
    except ValueError as exc:
        raise ExcelInputError(f"{label}: {exc}") from None
    return ([str(h) for h in header] if header is not None else None), rows


def _data_sheet_finish(region: Region, t: FileTarget) -> None:
    """A raw data sheet's niceties: frozen header, a filter over the table, a bold header (template fonts kept)."""
    from copy import copy

    from openpyxl.utils.cell import get_column_letter

    ws, r0, c0 = region.ws, region.r0, region.c0
    if t.freeze_panes:
        ws.freeze_panes = ws.cell(row=r0 + (1 if region.writes_header else 0), column=c0)
    if not region.writes_header or region.width == 0:
        return
    if t.autofilter:
        last = f"{get_column_letter(c0 + region.width - 1)}{r0 + region.data_rows}"
        ws.auto_filter.ref = f"{get_column_letter(c0)}{r0}:{last}"
    if t.header_bold:
        for j in range(region.width):
            cell = ws.cell(row=r0, column=c0 + j)
            font = copy(cell.font)
            font.bold = True
            cell.font = font
