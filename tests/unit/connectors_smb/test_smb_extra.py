"""Without the ``smb`` extra, validation names it for the SMB connectors (exit 2, nothing run)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from aetherflow.plan import validate_flow
from aetherflow.registry import Registry
from aetherflow.settings import Settings

FLOW = """
version: 1
flow: {id: smb_extra}
resources:
  share: {kind: smb, driver: DRIVER, config: {server: files.example, share: data}}
jobs:
  - id: j
    steps:
      - {id: list, type: smb_list_files, inputs: {resource: share, remote_dir: /}}
"""


@pytest.mark.parametrize(("driver", "module"), [("smbclient", "smbclient"), ("pysmb", "smb")])
def test_a_missing_smb_library_is_a_validation_error_naming_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, driver: str, module: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # as if the library were not installed
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW.replace("DRIVER", driver))

    report, _plan = validate_flow(str(flow), settings=Settings(), env={}, registry=Registry.builtin())

    [error] = report.errors
    assert error.code == "semantic:missing_extra"
    assert error.loc == "resources.share.driver"
    assert error.msg == f"Connector smb:{driver} needs the optional dependency '{module}' (install aetherflow[smb])"


@pytest.mark.parametrize("driver", ["smbclient", "pysmb"])
def test_with_the_smb_extra_an_smb_flow_validates(tmp_path: Path, driver: str) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW.replace("DRIVER", driver))

    report, plan = validate_flow(str(flow), settings=Settings(), env={}, registry=Registry.builtin())

    assert report.errors == []
    assert plan is not None
