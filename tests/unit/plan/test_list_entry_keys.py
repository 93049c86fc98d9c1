"""Keys of the entries of a list of closed mappings (Excel targets, upload items) are checked when validating."""

from __future__ import annotations

from pathlib import Path

from tests.unit.plan.helpers import check, records

HEAD = "version: 1\nflow: {id: f}\njobs:\n  - id: report\n    steps:\n"


def test_a_misspelt_target_key_is_an_error_at_its_entry_with_a_suggestion(tmp_path: Path) -> None:
    step = (
        "      - id: fill\n"
        "        type: excel_fill_small\n"
        "        inputs:\n"
        "          template_path: t.xlsx\n"
        "          output: o.xlsx\n"
        "          targets:\n"
        "            - {anchor: A, rows_json: '[]'}\n"
        "            - {anchr: B, rows_json: '[]'}\n"
    )

    report, _ = check(tmp_path, HEAD + step)

    assert records(report.errors) == [
        (
            "schema:extra_forbidden",
            "jobs[0].steps[0].inputs.targets[1].anchr",
            "Extra inputs are not permitted (did you mean 'anchor'?)",
            13,
        )
    ]


def test_nested_file_options_of_a_target_are_checked_too(tmp_path: Path) -> None:
    step = (
        "      - id: fill\n"
        "        type: excel_fill_from_file\n"
        "        inputs:\n"
        "          template_path: t.xlsx\n"
        "          output: o.xlsx\n"
        "          targets: [{source_path: a.csv, file: {delimeter: ';'}}]\n"
    )

    report, _ = check(tmp_path, HEAD + step)

    assert [(r[0], r[1]) for r in records(report.errors)] == [
        ("schema:extra_forbidden", "jobs[0].steps[0].inputs.targets[0].file.delimeter")
    ]


def test_one_upload_item_given_as_a_mapping_is_checked_like_a_list_entry(tmp_path: Path) -> None:
    flow = (
        "version: 1\nflow: {id: f}\nresources:\n  r: {kind: sftp, driver: paramiko}\n"
        + HEAD.split("\n", 2)[2]
        + "      - id: up\n"
        "        type: sftp_upload_files\n"
        "        inputs: {resource: r, remote_dir: /in, items: {file: a.csv, remote: b.csv}}\n"
    )

    report, _ = check(tmp_path, flow)

    assert [(r[0], r[1]) for r in records(report.errors)] == [
        ("schema:extra_forbidden", "jobs[0].steps[0].inputs.items.remote")
    ]
