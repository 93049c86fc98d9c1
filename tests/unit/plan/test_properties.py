"""Property: whatever the file holds, validation returns records (code + loc), never raises, never crashes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aetherflow.plan import Report, validate_flow
from aetherflow.registry import Registry
from aetherflow.settings import Settings

FLOW_KEYS = [
    "version",
    "flow",
    "resources",
    "jobs",
    "id",
    "description",
    "workspace",
    "root",
    "cleanup_policy",
    "layout",
    "artifacts",
    "scratch",
    "manifests",
    "state",
    "backend",
    "path",
    "locks",
    "scope",
    "ttl_seconds",
    "kind",
    "driver",
    "profile",
    "config",
    "options",
    "decode",
    "config_paths",
    "depends_on",
    "when",
    "steps",
    "type",
    "inputs",
    "outputs",
    "on_no_data",
    "retry",
    "timeout_seconds",
    "max_attempts",
    "retry_on",
    "exit_codes",
    "command",
    "log",
    "stdout",
    "step",
    "lock_key",
    "resource",
    "items",
    "<<",
]
TEMPLATES = [
    "{{env.X}}",
    "{{env.X:d}}",
    "{{jobs.a.outputs.n}}",
    "{{steps.s.x}}",
    "{{run_id}}",
    "{{secrets.k}}",
    "${HOME}",
    "{{",
    "}}",
    "{{}}",
    "{% x %}",
    "a {{ env.Y : z }} b",
    "{{jobs.b}}",
    "json={}",
    "{{result.count}}",
]
WHENS = ["", "true", "jobs.a.status == 'SUCCESS'", "jobs.b.outputs.n >= 2 and not jobs.a", "env == 1", "1 +", "x in y"]
LOC_RE = re.compile(r"^[^\r\n]+$")

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 1000),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(FLOW_KEYS),
    st.sampled_from(TEMPLATES),
    st.sampled_from(WHENS),
)
keys = st.one_of(st.sampled_from(FLOW_KEYS), st.text(min_size=1, max_size=8), st.integers(0, 3), st.booleans())
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=25,
)
ids = st.one_of(st.sampled_from(["a", "b", "c", "load", "x y", "", ".", "a/b"]), st.text(max_size=5))
step_types = st.sampled_from(["check_items", "with_lock", "external.process", "db_extract", "nope", "zip"])


@st.composite
def flow_shaped(draw: st.DrawFn) -> dict[str, Any]:
    job_ids = draw(st.lists(ids, min_size=0, max_size=4))
    jobs = []
    for job_id in job_ids:
        steps = []
        for step_id in draw(st.lists(ids, max_size=3)):
            step: dict[str, Any] = {"id": step_id, "type": draw(step_types)}
            if draw(st.booleans()):
                step["inputs"] = draw(st.dictionaries(st.sampled_from(FLOW_KEYS), documents, max_size=4))
            if draw(st.booleans()):
                step["outputs"] = {"o": draw(st.sampled_from(TEMPLATES))}
            if draw(st.booleans()):
                step["retry"] = draw(documents)
            steps.append(step)
        job: dict[str, Any] = {"id": job_id, "steps": steps}
        if draw(st.booleans()):
            job["depends_on"] = draw(st.lists(st.sampled_from([*job_ids, "ghost"]), max_size=3)) if job_ids else []
        if draw(st.booleans()):
            job["when"] = draw(st.sampled_from(WHENS))
        jobs.append(job)
    doc: dict[str, Any] = {
        "version": 1,
        "flow": {"id": draw(st.sampled_from(["f", "{{env.F:f}}", "{{env.F}}", "a b"]))},
        "jobs": jobs,
    }
    if draw(st.booleans()):
        doc["resources"] = {
            draw(st.sampled_from(["db", "api", "zipper"])): {
                "kind": draw(st.sampled_from(["db", "rest", "archive", "nope"])),
                "driver": draw(st.sampled_from(["sqlite3", "http", "zipfile", "os", "x"])),
                "config": {"path": draw(st.sampled_from(TEMPLATES))},
                "decode": draw(st.sampled_from([{}, {"config_paths": ["path"]}, {"config": {"path": True}}])),
                **({"profile": "p"} if draw(st.booleans()) else {}),
            }
        }
    return doc


@pytest.fixture(scope="module")
def flow_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("props") / "flow.yaml"


def _check(path: Path, text: str) -> Report:
    path.write_text(text, encoding="utf-8")
    report, plan = validate_flow(str(path), settings=Settings(), env={"X": "1"}, registry=Registry.builtin())
    # a missing env in the flow block (a warning) leaves nothing to render the flow id and paths from
    flow_env_missing = any(w.code == "semantic:missing_env" and w.loc.startswith("flow") for w in report.warnings)
    assert (plan is None) == (bool(report.errors) or flow_env_missing)
    for issue in [*report.errors, *report.warnings]:
        family, _, name = issue.code.partition(":")
        assert family in {"yaml", "schema", "semantic", "template", "profile", "settings"} and name
        assert LOC_RE.match(issue.loc), issue
        assert issue.msg and "\n" not in issue.msg
        assert issue.line is None or issue.line >= 1
    return report


PROPERTY = settings(
    max_examples=700,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@PROPERTY
@given(documents)
def test_any_yaml_document_gives_records_not_exceptions(flow_file: Path, document: Any) -> None:
    _check(flow_file, yaml.safe_dump(document, sort_keys=False))


@PROPERTY
@given(flow_shaped())
def test_flow_shaped_documents_give_records_not_exceptions(flow_file: Path, document: dict[str, Any]) -> None:
    _check(flow_file, yaml.safe_dump(document, sort_keys=False))


@PROPERTY
@given(st.text(alphabet=st.sampled_from(list("abc :-[]{}!&*#|>'\"\n\t~%@`,?0.19yes")), max_size=80))
def test_random_text_gives_records_not_exceptions(flow_file: Path, text: str) -> None:
    report = _check(flow_file, text)

    assert report.errors
