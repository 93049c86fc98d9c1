"""Phase 4 (templating.md §7): every templated section parsed with its phase's roots, missing env, dependencies."""

from __future__ import annotations

from pathlib import Path

from aetherflow.settings import Settings
from tests.unit.plan.helpers import check, codes, records

SENTENCE = "Unsupported templating syntax. Use {{VAR}} or {{VAR:DEFAULT}}"


def _step_flow(inputs: str, *, outputs: str = "", extra_jobs: str = "", job_extra: str = "") -> str:
    out = f"        outputs: {outputs}\n" if outputs else ""
    return (
        "version: 1\nflow: {id: f}\njobs:\n"
        + extra_jobs
        + f"  - id: load\n{job_extra}    steps:\n      - id: s\n        type: check_items\n"
        + f"        inputs: {inputs}\n"
        + out
    )


def test_root_not_allowed_in_step_inputs_is_unknown_root_at_the_leaf(tmp_path: Path) -> None:
    report, _ = check(tmp_path, _step_flow('{items: "{{secrets.token}}"}'))

    assert records(report.errors) == [
        ("template:unknown_root", "jobs[0].steps[0].inputs.items", "Unknown template root: secrets", 8)
    ]


def test_bad_token_in_step_inputs_is_template_syntax_at_the_section(tmp_path: Path) -> None:
    report, _ = check(tmp_path, _step_flow('{items: "echo ${HOME}"}'))

    assert [(i.code, i.loc, i.line) for i in report.errors] == [("template:syntax", "jobs[0].steps[0].inputs", 8)]
    assert report.errors[0].msg.startswith(f"{SENTENCE} (jobs[0].steps[0].inputs.items: ")


def test_step_outputs_are_scanned_too(tmp_path: Path) -> None:
    report, _ = check(tmp_path, _step_flow("{items: [a]}", outputs='{n: "{{result.count | int}}"}'))

    assert [(i.code, i.loc) for i in report.errors] == [("template:syntax", "jobs[0].steps[0].outputs")]


def test_run_id_in_flow_meta_is_syntax_not_unknown_root(tmp_path: Path) -> None:
    report, _ = check(tmp_path, 'flow:\n  id: f\n  workspace: {root: "/w/{{run_id}}"}\njobs: []\n')

    assert [(i.code, i.loc, i.line) for i in report.errors] == [("template:syntax", "flow", 1)]
    assert report.errors[0].msg == (
        f"{SENTENCE} (flow.workspace.root: root 'run_id' is not allowed here; allowed: env)"
    )


def test_non_env_root_in_resource_config_is_syntax(tmp_path: Path) -> None:
    report, _ = check(
        tmp_path,
        "flow: {id: f}\nresources:\n  db:\n    kind: db\n    driver: sqlite3\n"
        '    config: {path: "{{flow_id}}.db"}\njobs: []\n',
    )

    assert [(i.code, i.loc, i.line) for i in report.errors] == [("template:syntax", "resources.db.config", 6)]


def test_missing_env_without_default_is_a_warning_by_default(tmp_path: Path) -> None:
    report, plan = check(tmp_path, _step_flow('{items: "{{env.ITEMS}}"}'))

    assert plan is not None
    assert records(report.warnings) == [("semantic:missing_env", "jobs[0].steps[0].inputs", "Missing env env.ITEMS", 8)]


def test_missing_env_is_an_error_when_strict(tmp_path: Path) -> None:
    report, plan = check(tmp_path, _step_flow('{items: "{{env.ITEMS}}"}'), settings=Settings(validate_env_strict=True))

    assert plan is None
    assert records(report.errors) == [("semantic:missing_env", "jobs[0].steps[0].inputs", "Missing env env.ITEMS", 8)]


def test_env_with_default_or_present_is_not_missing(tmp_path: Path) -> None:
    report, _ = check(
        tmp_path, _step_flow('{items: "{{env.ITEMS}}", min_count: "{{env.MIN:1}}"}'), env={"ITEMS": "a,b"}
    )

    assert report.warnings == []


def test_empty_env_value_counts_as_missing(tmp_path: Path) -> None:
    report, _ = check(tmp_path, _step_flow('{items: "{{env.ITEMS}}"}'), env={"ITEMS": ""})

    assert codes(report.warnings) == ["semantic:missing_env"]


def test_every_missing_env_key_is_reported_and_duplicates_once(tmp_path: Path) -> None:
    report, _ = check(tmp_path, _step_flow('{items: ["{{env.A}}", "{{env.B}}-{{env.A}}", "{{env.A}}"]}'))

    assert [i.msg for i in report.warnings] == ["Missing env env.A", "Missing env env.B"]


def test_missing_env_in_flow_meta_is_reported_at_flow(tmp_path: Path) -> None:
    report, _ = check(tmp_path, 'flow:\n  id: f\n  state: {path: "{{env.STATE}}"}\njobs: []\n')

    assert records(report.warnings) == [("semantic:missing_env", "flow", "Missing env env.STATE", 1)]


def test_missing_keys_of_run_time_roots_are_not_reported(tmp_path: Path) -> None:
    first = "      - {id: first, type: check_items, inputs: {items: [a]}, outputs: {n: '{{result.count}}'}}\n"
    flow = _step_flow('{items: "{{steps.first.count}}", min_count: "{{job.outputs.n}}"}')
    report, plan = check(tmp_path, flow.replace("    steps:\n", "    steps:\n" + first))

    assert plan is not None
    assert report.warnings == []


def test_template_reading_a_job_that_is_not_a_dependency_is_a_warning(tmp_path: Path) -> None:
    report, _ = check(
        tmp_path,
        _step_flow('{items: "{{jobs.early.outputs.items}}"}', extra_jobs="  - id: early\n    steps: []\n"),
    )

    assert records(report.warnings) == [
        (
            "semantic:not_a_dependency",
            "jobs[1].steps[0].inputs",
            "Job 'load' reads jobs.early but does not depend on it",
            10,
        )
    ]


def test_template_reading_a_transitive_dependency_is_fine(tmp_path: Path) -> None:
    report, _ = check(
        tmp_path,
        _step_flow(
            '{items: "{{jobs.first.outputs.items}}"}',
            extra_jobs="  - id: first\n    steps: []\n  - id: middle\n    depends_on: [first]\n    steps: []\n",
            job_extra="    depends_on: [middle]\n",
        ),
    )

    assert report.warnings == []


def test_decode_target_must_be_a_standalone_token(tmp_path: Path) -> None:
    report, _ = check(
        tmp_path,
        "flow: {id: f}\nresources:\n  db:\n    kind: db\n    driver: sqlite3\n"
        '    config:\n      path: "/data/{{env.DB_FILE:x}}.db"\n    decode: {config: {path: true}}\njobs: []\n',
    )

    assert records(report.errors) == [
        (
            "template:syntax",
            "resources.db.config.path",
            "Decode target must be a standalone template token like '{{TOKEN}}' (no prefix/suffix).",
            7,
        )
    ]


def test_standalone_decode_target_is_fine(tmp_path: Path) -> None:
    report, _ = check(
        tmp_path,
        "flow: {id: f}\nresources:\n  db:\n    kind: db\n    driver: sqlite3\n"
        '    config:\n      path: "{{env.DB_FILE:x}}"\n    decode: {config_paths: [path]}\njobs: []\n',
    )

    assert report.errors == []


def test_sections_are_scanned_resources_then_flow_then_steps(tmp_path: Path) -> None:
    report, _ = check(
        tmp_path,
        'flow:\n  id: "{{env.FID}}"\nresources:\n  db:\n    kind: db\n    driver: sqlite3\n'
        '    config: {path: "{{env.DBP}}"}\njobs:\n  - id: a\n    steps:\n'
        '      - {id: s, type: check_items, inputs: {items: "{{env.ITEMS}}"}}\n',
    )

    assert [i.loc for i in report.warnings] == ["resources.db.config", "flow", "jobs[0].steps[0].inputs"]
