"""``aetherflow.core.api`` exports every public name of aetherflow-core 0.0.14, with upstream's meaning, lazily."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable

import pytest

from aetherflow.core import api as legacy
from aetherflow.plugins import load_plugins
from aetherflow.registry import Registry
from aetherflow.settings import Settings
from tests.plugins import LEGACY_DIR

UPSTREAM_ALL = [
    "Step",
    "StepResult",
    "STEP_SUCCESS",
    "STEP_SKIPPED",
    "RunContext",
    "new_run_id",
    "Settings",
    "FlowSpec",
    "FlowMetaSpec",
    "JobSpec",
    "StepSpec",
    "ResourceSpec",
    "WorkspaceSpec",
    "StateSpec",
    "LocksSpec",
    "CleanupPolicy",
    "LockScope",
    "RemoteFileMeta",
    "ConnectorBase",
    "ConnectorInit",
    "ConnectorError",
    "register_step",
    "get_step",
    "list_steps",
    "register_connector",
    "get_connector",
    "list_connectors",
    "require",
    "require_attr",
]

FILE_CONTRACT = (
    "read_bytes",
    "write_bytes",
    "upload",
    "download",
    "list",
    "delete",
    "mkdir",
    "mkdir_recursive",
    "delete_recursive",
)


def test_all_is_upstreams_list_in_upstreams_order() -> None:
    assert list(legacy.__all__) == UPSTREAM_ALL


@pytest.mark.parametrize("name", UPSTREAM_ALL)
def test_every_exported_name_resolves(name: str) -> None:
    assert getattr(legacy, name) is not None
    assert name in dir(legacy)


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        legacy.Nope  # noqa: B018


def test_a_plugin_importing_the_step_api_loads_neither_pydantic_nor_the_registry() -> None:
    probe = (
        "import sys\n"
        "from aetherflow.core.api import Step, StepResult, register_step, register_connector, ConnectorBase\n"
        "mods = ('pydantic', 'aetherflow.registry', 'aetherflow.core.models', 'aetherflow.core.lookup')\n"
        "print(' '.join(m for m in mods if m in sys.modules) or 'none')\n"
        "from aetherflow.core.api import require\n"
        "print('aetherflow.core.lookup' in sys.modules, 'aetherflow.registry' in sys.modules)\n"
    )

    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)

    assert done.stdout.split("\n")[:2] == ["none", "True False"]


def test_require_imports_a_module_or_an_attribute_of_one() -> None:
    import json.decoder

    assert legacy.require("json.decoder") is json.decoder
    assert legacy.require("json.decoder:JSONDecodeError") is json.decoder.JSONDecodeError
    assert legacy.require_attr("json", "loads") is __import__("json").loads


def test_require_of_a_missing_module_names_it_in_a_runtime_error() -> None:
    with pytest.raises(RuntimeError) as caught:
        legacy.require("no_such_module_for_aetherflow")

    assert str(caught.value) == (
        "Optional dependency missing: Module no_such_module_for_aetherflow. Install it to use this connector/step."
    )
    assert isinstance(caught.value.__cause__, ImportError)


def test_require_attr_of_a_missing_attribute_names_both() -> None:
    with pytest.raises(RuntimeError, match=r"^Optional dependency missing: Module json Attribute nope\. "):
        legacy.require("json:nope")


def test_get_step_returns_the_plugins_own_class_and_lists_the_loaded_on_a_miss(
    registry: Registry, make_settings: Callable[..., Settings]
) -> None:
    load_plugins(registry, settings=make_settings(paths=[LEGACY_DIR]))

    cls = legacy.get_step("demo.write")

    assert cls.__name__ == "DemoWrite" and issubclass(cls, legacy.Step)
    with pytest.raises(KeyError, match=r"Unknown step type: nope\. Loaded: \[.*'demo\.write'"):
        legacy.get_step("nope")


def test_get_connector_returns_the_registered_class_and_lists_the_loaded_on_a_miss(
    registry: Registry, make_settings: Callable[..., Settings]
) -> None:
    load_plugins(registry, settings=make_settings(paths=[LEGACY_DIR]))

    assert issubclass(legacy.get_connector("greeter", "init"), legacy.ConnectorBase)
    assert legacy.get_connector("sftp", "paramiko").__name__ == "ParamikoSftpConnector"
    with pytest.raises(KeyError, match=r"Unknown connector: x:y\. Loaded: \[.*'greeter:init'"):
        legacy.get_connector("x", "y")


@pytest.mark.parametrize("kind", ["sftp", "smb"])
def test_every_file_connector_offers_upstreams_file_contract(kind: str) -> None:
    missing = {
        name: [m for m in FILE_CONTRACT if not callable(getattr(legacy.get_connector(*name.split(":")), m, None))]
        for name in legacy.list_connectors()
        if name.startswith(f"{kind}:")
    }

    assert missing and all(v == [] for v in missing.values()), missing


def test_new_run_id_is_a_fresh_run_id_in_the_runners_form() -> None:
    first, second = legacy.new_run_id(), legacy.new_run_id()

    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{8}", first)
    assert first != second


def test_settings_are_read_from_an_explicit_env_snapshot() -> None:
    settings = legacy.Settings.from_env(
        {"AETHERFLOW_WORK_ROOT": "/w", "AETHERFLOW_PLUGIN_PATHS": "a, b,,", "AETHERFLOW_PLUGIN_STRICT": "false"},
        overrides={"log_level": "DEBUG"},
    )

    assert (settings.work_root, settings.plugin_paths, settings.plugin_strict) == ("/w", ["a", "b"], False)
    assert (settings.state_root, settings.log_level, settings.secrets_module) == ("/tmp/state", "DEBUG", None)


def test_flow_spec_reads_a_flow_document_with_upstreams_defaults() -> None:
    flow = legacy.FlowSpec.model_validate(
        {
            "flow": {"id": "f"},
            "resources": {"db": {"kind": "db", "driver": "sqlite3", "config": {"path": "x"}}},
            "jobs": [{"id": "a", "steps": [{"id": "s", "type": "check_items"}]}],
        }
    )

    assert flow.flow.workspace.layout == {"artifacts": "artifacts", "scratch": "scratch", "manifests": "manifests"}
    assert (flow.flow.locks.scope, flow.flow.state.backend, flow.version) == ("job", "sqlite", 1)
    assert isinstance(flow.jobs[0], legacy.JobSpec) and isinstance(flow.jobs[0].steps[0], legacy.StepSpec)
    assert isinstance(flow.resources["db"], legacy.ResourceSpec)


def test_a_resource_spec_refuses_unknown_keys_and_lock_scope_is_a_closed_set() -> None:
    from pydantic import TypeAdapter, ValidationError

    with pytest.raises(ValidationError):
        legacy.ResourceSpec.model_validate({"kind": "db", "driver": "x", "confg": {}})
    with pytest.raises(ValidationError):
        TypeAdapter(legacy.LockScope).validate_python("global")
    assert TypeAdapter(legacy.CleanupPolicy).validate_python("never") == "never"
