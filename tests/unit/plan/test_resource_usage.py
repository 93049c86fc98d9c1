"""Which resources count as used: an unknown connector is an error on those, a warning on the others."""

from __future__ import annotations

from pathlib import Path

from tests.unit.plan.helpers import check, codes

HEAD = "version: 1\nflow: {id: f}\n"


def _flow(resources: str, *steps: str) -> str:
    body = "".join(f"      - {step}\n" for step in steps)
    return HEAD + f"resources:\n{resources}jobs:\n  - id: a\n    steps:\n{body}"


def test_a_plugin_step_makes_every_resource_used(tmp_path: Path) -> None:
    text = _flow(
        "  other: {kind: db, driver: nope}\n  db: {kind: db, driver: sqlite3}\n",
        "{id: q, type: test_query, inputs: {resource: db, sql: SELECT 1}}",
    )

    report, _ = check(tmp_path, text)

    assert codes(report.errors) == ["semantic:unknown_connector"]
    assert report.errors[0].loc == "resources.other.driver"


def test_an_unknown_step_type_does_not_make_resources_used(tmp_path: Path) -> None:
    report, _ = check(tmp_path, _flow("  r: {kind: db, driver: nope}\n", "{id: s, type: no_such_step}"))

    assert codes(report.errors) == ["semantic:unknown_step_type"]
    assert codes(report.warnings) == ["semantic:unknown_connector"]


def test_a_hostile_resource_name_a_step_names_is_used(tmp_path: Path) -> None:
    name = "d\u00e9j\u00e0 'q' \\\\ \u2603"
    resources = f'  "{name}": {{kind: db, driver: nope}}\n'
    step = f'{{id: s, type: db_extract, inputs: {{resource: "{name}", sql: SELECT 1, output: o.tsv}}}}'

    report, _ = check(tmp_path, _flow(resources, step))

    assert codes(report.errors) == ["semantic:unknown_connector"]
    assert codes(report.warnings) == []


def test_an_unused_resource_warning_says_no_step_uses_it(tmp_path: Path) -> None:
    report, _ = check(
        tmp_path, _flow("  r: {kind: db, driver: nope}\n", "{id: s, type: check_items, inputs: {items: [x]}}")
    )

    assert report.errors == []
    assert report.warnings[0].msg.endswith("(no step uses this resource)")


def test_a_templated_connector_input_of_unzip_makes_every_resource_used(tmp_path: Path) -> None:
    step = "{id: u, type: unzip, inputs: {archives: [a.zip], dest_dir: d, connector: '{{env.ARCH}}'}}"

    report, _ = check(tmp_path, _flow("  r: {kind: archive, driver: nope}\n", step), env={"ARCH": "r"})

    assert codes(report.errors) == ["semantic:unknown_connector"]
