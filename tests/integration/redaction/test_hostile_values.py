"""Hostile secret values through every place a secret or templated value travels.

A property test (Hypothesis) registers a generated secret through one of the registration routes (secret-named env
var, URL password, ``Authorization`` header, secret-named config key, secret query parameter, secret env file value)
and sends it, embedded in text and nested in structures, through the real formatters and encoders: JSON and text log
lines, stored outputs, the termination message and the metrics hook. The check is metamorphic: the output must be
exactly what the same pipeline makes of the input with the secret already replaced by ``***``. Then a few hostile
values go through the real CLI: ``run`` (JSON and text logs), the state database, ``runs show`` and the termination
message.
"""

from __future__ import annotations

import io
import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from aetherflow.edge.summary import render_termination_message, termination_from_summary
from aetherflow.events import EventBus
from aetherflow.observability.hook import MetricsHook
from aetherflow.observability.logs import configure
from aetherflow.redaction import MASK, Redactor
from aetherflow.secret_forms import is_registrable
from aetherflow.spec.resources import register_secret_keys
from aetherflow.state.store import encode_json
from tests.support.cli import make_flow
from tests.support.events import event_of

HOSTILE_CHARS = "\"'\\\x00\n\r\t\x0b\x1b\x7f\x85\x9f\u2028\u2029\u202e\ufeff{}[]=:,% /@?&#$`;|<>*"
hostile_text = st.text(
    alphabet=st.one_of(st.sampled_from(HOSTILE_CHARS), st.characters(codec="utf-8")), min_size=4, max_size=60
)


def _route_secret_env(redactor: Redactor, secret: str) -> None:
    redactor.add_env({"SERVICE_TOKEN": secret})


def _route_url_password(redactor: Redactor, secret: str) -> None:
    redactor.add_env({"DB_URL": f"postgresql://etl:{quote(secret, safe='')}@db.internal:5432/app"})


def _route_authorization_header(redactor: Redactor, secret: str) -> None:
    register_secret_keys({"headers": {"Authorization": secret}}, redactor)


def _route_config_key(redactor: Redactor, secret: str) -> None:
    register_secret_keys({"auth": {"username": "svc", "password": secret}}, redactor)


def _route_query_parameter(redactor: Redactor, secret: str) -> None:
    redactor.add_env({"HOOK_URL": f"https://hooks.internal/x?user=a&access_token={quote_plus(secret)}"})


def _route_secret_env_file(redactor: Redactor, secret: str) -> None:
    redactor.add(secret)


ROUTES: list[Callable[[Redactor, str], None]] = [
    _route_secret_env,
    _route_url_password,
    _route_authorization_header,
    _route_config_key,
    _route_query_parameter,
    _route_secret_env_file,
]


def _fields(value: str) -> dict[str, Any]:
    """An event's fields carrying ``value`` in text, nested structures and next to plain JSON values."""
    return {
        "message": f"<{value}>",
        "error": f"login failed: '{value}' rejected",
        "argv": ["/bin/sh", "-c", value],
        "nested": {"a": [value, {"k": value, "deep": [[value]]}], "flag": False, "n": None, "count": 1234},
        "network": False,
    }


class _Recorder:
    """A metrics hook's ``METRICS`` object that keeps what it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def on_job_end(self, **kwargs: Any) -> None:
        self.calls.append(("on_job_end", kwargs))

    def on_run_end(self, **kwargs: Any) -> None:
        self.calls.append(("on_run_end", kwargs))


def _summary(value: str) -> dict[str, Any]:
    error = f"step failed with {value}"
    return {
        "flow_id": "fuzz",
        "run_id": "r1",
        "status": "FAILED",
        "exit_code": 1,
        "attempt": 1,
        "duration_ms": 5,
        "status_counts": {"FAILED": 1},
        "jobs": [
            {
                "job_id": "j",
                "status": "FAILED",
                "error": error,
                "steps": [{"step_id": "s", "status": "FAILED", "error": error}],
            }
        ],
    }


def _log_line(fmt: str, redactor: Redactor, fields: dict[str, Any]) -> str:
    stream = io.StringIO()
    configure(fmt=fmt, level="INFO", redactor=redactor, stream=stream)
    EventBus().emit("external_process_stderr", **fields)
    return stream.getvalue()


def _channels(redactor: Redactor, value: str) -> dict[str, Any]:
    """What leaves the process for ``value``: log lines (timestamp dropped), stored outputs, termination message,
    metrics hook calls."""
    fields = _fields(value)
    json_line = _log_line("json", redactor, fields)
    text_line = _log_line("text", redactor, fields)
    recorder = _Recorder()
    bus = EventBus([MetricsHook(recorder)], mask=redactor.mask_obj)
    bus.bind(flow_id="fuzz", run_id="r1")
    bus.publish(event_of("job_end", {"job_id": "j", "status": "FAILED", "duration_ms": 1, "error": fields["error"]}))
    bus.publish(event_of("run_summary", _summary(value)))
    doc = termination_from_summary(redactor.mask_obj(_summary(value)))
    return {
        "json log": {k: v for k, v in json.loads(json_line).items() if k != "ts_ms"},
        "json log lines": json_line.count("\n"),
        "text log": text_line.split(" ", 1)[1],
        "stored outputs": json.loads(encode_json(redactor.mask_obj(fields))),
        "termination message": json.loads(render_termination_message(doc)),
        "metrics hook": recorder.calls,
    }


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secret=hostile_text, route=st.sampled_from(ROUTES))
@example(secret='pa"ss\\wo\nrd\x00', route=_route_secret_env)
@example(
    secret="-----BEGIN KEY-----\nQUJDREVGR0hJSktMTU5PUA==\nUVJTVFVWV1hZWg==\n-----END KEY-----", route=_route_secret_env
)
@example(secret="x" * 200_000, route=_route_url_password)
@example(secret="\u2028\u2029\x85\x1b[2Kforged", route=_route_authorization_header)
@example(secret="😀 émoji ﷽ \U0010ffff", route=_route_query_parameter)
def test_a_registered_secret_leaves_every_channel_exactly_as_if_it_had_been_masked_beforehand(
    secret: str, route: Callable[[Redactor, str], None]
) -> None:
    redactor = Redactor()
    route(redactor, secret)
    assume(redactor.mask(secret) == MASK)  # the route registered it (not a value the contract never masks)

    masked = _channels(redactor, secret)
    reference = _channels(Redactor(), MASK)

    # a secret (or a form of it: the token of an Authorization value, its base64) that is also part of the channels'
    # own text (an event name, a level, a field name such as duration_ms) is masked there too
    own_text = json.dumps(reference, ensure_ascii=False) + repr(reference)
    assume(redactor.mask(own_text) == own_text)
    assert masked == reference
    quote_char = repr(secret)[0]  # a Python repr in an exception message carries an escaped form of the secret
    assert redactor.mask(f"KeyError: {secret!r}") == f"KeyError: {quote_char}***{quote_char}"
    assert redactor.mask(json.dumps({"body": secret})) == '{"body": "***"}'
    assert masked["json log lines"] == 1
    assert "\n" not in masked["text log"].rstrip("\n")


@settings(max_examples=200, deadline=None)
@given(
    value=st.one_of(
        st.sampled_from(["false", "true", "null", "None", "off", "1234567", "abc", " yes "]), st.text(max_size=3)
    )
)
def test_values_the_contract_never_masks_leave_json_lines_valid_and_untouched(value: str) -> None:
    redactor = Redactor()
    redactor.add_env({"FEATURE_TOKEN": value, "DB_PASSWORD": value})

    line = _log_line("json", redactor, {"network": False, "retries": 1234567, "value": value, "n": None})

    assert not is_registrable(value)
    assert {k: v for k, v in json.loads(line).items() if k != "ts_ms"} == {
        "event": "external_process_stderr",
        "level": "INFO",
        "network": False,
        "retries": 1234567,
        "value": value,
        "n": None,
    }


CLI_FLOW = """
version: 1
flow: {id: hostile}
resources:
  pg: {kind: db, driver: sqlalchemy, config: {url: "{{env.DB_URL}}"}}
jobs:
  - id: keep
    steps:
      - id: store
        type: external.process
        inputs:
          command: ["/bin/sh", "-c", 'printf "%s\\n" "$1"; printf "x%sy\\n" "$1" >&2', "sh", "{{env.SERVICE_TOKEN}}"]
          log: {stdout: capture, stderr: capture}
        outputs:
          nested: {a: ["{{env.SERVICE_TOKEN}}", {k: "{{env.DB_URL}}"}]}
  - id: fail
    depends_on: [keep]
    steps:
      - id: echo_and_fail
        type: external.process
        inputs:
          command: ["/bin/sh", "-c", 'printf "%s\\0%s\\n" "$1" "$1" >&2; exit 3', "sh", "{{env.SERVICE_TOKEN}}"]
          log: {stdout: capture, stderr: capture}
"""


def _state_dump(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(repr(row) for table in tables for row in conn.execute(f'SELECT * FROM "{table}"'))


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param("q\"u'o\\te s=1", id="quotes-backslash-equals"),
        pytest.param("multi\nline\tsecret\r\x1b[31m", id="newline-tab-controls"),
        pytest.param("ünï©ødé\u2028sep\u202e🔑", id="unicode"),
        pytest.param("h" * 60_000 + "uge", id="huge"),
        pytest.param('{"nested": ["json", {"k": "v"}]}', id="json-text"),
    ],
)
@pytest.mark.parametrize("log_format", ["json", "text"])
def test_a_hostile_secret_never_leaves_a_real_run(tmp_path: Path, secret: str, log_format: str) -> None:
    flow = make_flow(tmp_path, CLI_FLOW)
    termination = tmp_path / "termination-log"
    termination.write_text("")
    env = {
        "SERVICE_TOKEN": secret,
        "DB_URL": f"postgresql://etl:{quote(secret, safe='')}@db.internal/app",
        "AETHERFLOW_LOG_FORMAT": log_format,
        "AETHERFLOW_TERMINATION_LOG": str(termination),
    }

    run = flow.run(env=env)

    assert run.code == 1, run.stderr[-2000:]
    show = flow.show()
    assert show["jobs"]["keep"]["outputs"] == {"nested": {"a": ["***", {"k": "postgresql://etl:***@db.internal/app"}]}}
    message = json.loads(termination.read_text())
    channels = {
        "run stderr": run.stderr,
        "run stdout": run.stdout,
        "state": _state_dump(flow.state),
        "runs show": json.dumps(show, ensure_ascii=False),
        "termination": json.dumps(message, ensure_ascii=False),
    }
    pieces = [line for line in secret.splitlines() if is_registrable(line)]
    for name, text in channels.items():
        for piece in [secret, quote(secret, safe=""), *pieces]:
            assert piece not in text, f"{piece[:40]!r} leaked into {name}"
    lines = run.stderr.splitlines()
    if log_format == "json":
        assert all(json.loads(line) for line in lines)
    else:
        assert all(line[:4].isdigit() for line in lines if line), "a line did not start with a timestamp"
