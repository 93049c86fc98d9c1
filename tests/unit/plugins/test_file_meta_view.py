"""What a legacy step receives for a ``RemoteFileMeta`` from an earlier step: one view, however the value arrived
(the dataclass on a fresh run, its JSON mapping after a resume), with attribute and item access."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from aetherflow.api import RemoteFileMeta
from aetherflow.core.views import FileMetaView, LegacyConnectorContext, legacy_inputs
from aetherflow.registry import Registry

HOSTILE = 'dir/we\'ird "q" \\ \n\x00 ü\N{SNOWMAN}.csv'
META = RemoteFileMeta(rel_path=HOSTILE, path=f"/in/{HOSTILE}", name="x.csv", size=3, mtime=1.5)


@pytest.mark.parametrize("arrived", [META, dataclasses.asdict(META), json.loads(json.dumps(dataclasses.asdict(META)))])
def test_a_file_entry_reads_the_same_by_attribute_and_by_item_whatever_its_form(arrived: Any) -> None:
    [view] = legacy_inputs([arrived])

    assert isinstance(view, FileMetaView) and isinstance(view, dict)
    assert (view.rel_path, view.path, view.size, view.sha256, view.is_dir) == (
        HOSTILE,
        f"/in/{HOSTILE}",
        3,
        None,
        False,
    )
    assert view["rel_path"] == view.get("rel_path") == HOSTILE
    assert view == dataclasses.asdict(META)


def test_a_partial_mapping_answers_absent_fields_as_none() -> None:
    view = legacy_inputs({"path": "/a", "name": "a"})

    assert isinstance(view, FileMetaView)
    assert (view.path, view.rel_path, view.size) == ("/a", None, None)


def test_an_unknown_attribute_is_an_attribute_error() -> None:
    view = legacy_inputs(dataclasses.asdict(META))

    with pytest.raises(AttributeError, match="no attribute 'owner'"):
        view.owner  # noqa: B018


def test_other_mappings_stay_plain_dicts_and_nesting_is_followed() -> None:
    value = {"files": [META], "config": {"path": "/x", "mode": "fast"}, "batch": ({"name": "a"},), "n": 1}

    out = legacy_inputs(value)

    assert type(out) is dict and type(out["config"]) is dict
    assert isinstance(out["files"][0], FileMetaView)
    assert isinstance(out["batch"][0], FileMetaView)
    assert out["n"] == 1


def test_the_view_is_json_as_before_and_replace_keeps_it_a_view() -> None:
    view = legacy_inputs(META)

    changed = view.replace(rel_path="b.csv")

    assert json.loads(json.dumps(view)) == dataclasses.asdict(META)
    assert isinstance(changed, FileMetaView) and changed.rel_path == "b.csv" and view.rel_path == HOSTILE
    with pytest.raises(TypeError, match="unknown RemoteFileMeta fields"):
        view.replace(owner="x")


def test_the_connector_context_adds_a_logger_and_forwards_the_rest() -> None:
    class RunCtx:
        env = {"A": "1"}

        def redact(self, text: str) -> str:
            return "***"

    ctx = LegacyConnectorContext(RunCtx(), "sftp", "sftp-moveit")

    assert isinstance(ctx.log, logging.Logger)
    assert ctx.log.name == "aetherflow.plugins.connectors.sftp.sftp-moveit"
    assert (ctx.env, ctx.redact("x")) == ({"A": "1"}, "***")


def test_a_legacy_connector_built_by_the_runner_sees_ctx_log(tmp_path: Path, registry: Registry) -> None:
    from aetherflow.api import take_registrations
    from aetherflow.core.api import ConnectorBase, register_connector
    from aetherflow.spec.resources import ResolvedResource
    from tests.unit.plugins.helpers import make_context

    @register_connector("probe", "logging")
    class Probe(ConnectorBase):
        def __init__(self, init: Any) -> None:
            super().__init__(init)
            self.log = init.ctx.log
            self.log.info("built")

    [reg] = take_registrations()
    registry.add_connector(reg.name, reg.target)
    resource = ResolvedResource("p", "probe", "logging", {}, {})
    ctx, pool = make_context(tmp_path, registry, step_type="check_items", resources={"p": resource})

    connector = ctx.connector("p")

    assert connector.log.name == "aetherflow.plugins.connectors.probe.logging"
    pool.close_all()
