"""Bundle manifest v1: defaults, and every problem reported as ``bundle:invalid`` with the file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aetherflow.bundles import BundleManifestInvalid, load_manifest
from aetherflow.errors import ExitCode, InputError
from tests.integration.bundles.helpers import write_manifest, write_text
from tests.support.cli import aetherflow

VALID = """\
bundle:
  id: demo
  source:
    type: local
    base_path: src
  layout:
    profiles_file: profiles.yaml
  entry_flow: flows/main.yaml
"""


def _issues(path: Path) -> list[tuple[str, str, str, int | None, str | None]]:
    with pytest.raises(BundleManifestInvalid) as caught:
        load_manifest(str(path))
    return [(i.code, i.loc, i.msg, i.line, i.file) for i in caught.value.issues]


def test_a_minimal_manifest_gets_the_spec_defaults(tmp_path: Path) -> None:
    manifest = load_manifest(str(write_text(tmp_path / "m.yaml", VALID)))

    assert manifest.version == 1
    assert manifest.mode == "internal_fast"
    assert manifest.bundle_id == "demo"
    assert manifest.source.type == "filesystem"
    assert manifest.source.base_path == str(tmp_path / "src")  # relative to the manifest's directory
    assert manifest.source.strict_fingerprint is True
    assert manifest.source.ref == "HEAD"
    assert manifest.bundle_name == "demo"
    assert manifest.fetch_policy == "cache_check"
    assert manifest.zip_drivers is None
    assert (manifest.plugin_paths, manifest.env_files, dict(manifest.resources)) == ((), (), {})


def test_unknown_keys_name_the_section_the_dotted_key_and_the_line(tmp_path: Path) -> None:
    path = write_text(tmp_path / "m.yaml", VALID.replace("    base_path: src\n", "    base_path: src\n    colour: x\n"))

    assert _issues(path) == [
        (
            "bundle:invalid",
            "bundle.source.colour",
            "Unknown bundle.source keys: bundle.source.colour",
            6,
            str(path),
        )
    ]


def test_unknown_top_level_keys_suggest_the_close_one(tmp_path: Path) -> None:
    path = write_text(tmp_path / "m.yaml", VALID + "env_file: []\n")

    [(code, loc, msg, line, _file)] = _issues(path)

    assert (code, loc, line) == ("bundle:invalid", "env_file", 9)
    assert msg == "Unknown manifest keys: env_file (did you mean 'env_files'?)"


@pytest.mark.parametrize(
    ("edit", "loc", "message"),
    [
        (("version: 1\n", "version: 2\n"), "version", "Unsupported bundle manifest version: 2 (must be 1)"),
        (("  entry_flow: flows/main.yaml\n", ""), "bundle.entry_flow", "bundle.entry_flow is required"),
        (
            ("    profiles_file: profiles.yaml\n", "    flows_dir: flows\n"),
            "bundle.layout.profiles_file",
            "is required",
        ),
        (("  entry_flow: flows/main.yaml", "  entry_flow: ../main.yaml"), "bundle.entry_flow", "inside the bundle"),
        (("    type: local", "    type: ftp"), "bundle.source.type", "must be one of"),
        (("    type: local", "    type: sftp"), "bundle.source", "resource is required for source type sftp"),
        (("  id: demo", "  id: ../escape"), "bundle.id", "names the cache directory"),
        (("bundle:", "mode: paranoid\nbundle:"), "mode", "mode must be one of internal_fast, enterprise or null"),
    ],
)
def test_invalid_values_are_reported(tmp_path: Path, edit: tuple[str, str], loc: str, message: str) -> None:
    text = VALID if edit[0] != "version: 1\n" else "version: 1\n" + VALID
    path = write_text(tmp_path / "m.yaml", text.replace(*edit))

    issues = _issues(path)

    assert [i[1] for i in issues] == [loc]
    assert message in issues[0][2]


def test_manifest_resources_cannot_use_profiles_and_must_match_the_source_kind(tmp_path: Path) -> None:
    path = write_text(
        tmp_path / "m.yaml",
        VALID.replace("type: local", "type: db\n    resource: assets")
        + "resources:\n  assets:\n    kind: sftp\n    driver: paramiko\n    profile: prod\n",
    )

    messages = {loc: msg for _code, loc, msg, _line, _file in _issues(path)}

    assert messages["resources.assets.profile"] == "manifest is bootstrap; profiles not available before sync"
    assert messages["bundle.source.resource"] == "Resource 'assets' is kind=sftp, source type db needs kind=db"


def test_a_null_profile_on_a_manifest_resource_is_accepted_as_upstream_does(tmp_path: Path) -> None:
    path = write_text(
        tmp_path / "m.yaml",
        VALID.replace("type: local", "type: db\n    resource: assets")
        + "resources:\n  assets:\n    kind: db\n    driver: sqlite3\n    profile: null\n",
    )

    manifest = load_manifest(str(path))

    assert manifest.resources["assets"].kind == "db"


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write_text(tmp_path / "m.yaml", "version: 3\nzip_drivers: [winzip]\nbundle:\n  id: x\n  nope: 1\n")

    locs = [loc for _code, loc, _msg, _line, _file in _issues(path)]

    assert locs == ["version", "bundle.nope", "bundle.source", "bundle.layout", "bundle.entry_flow", "zip_drivers"]


def test_a_yaml_error_is_a_bundle_invalid_record_with_its_line(tmp_path: Path) -> None:
    path = write_text(tmp_path / "m.yaml", "bundle:\n  id: [unclosed\n")

    [(code, _loc, msg, line, file)] = _issues(path)

    assert (code, file) == ("bundle:invalid", str(path))
    assert msg.startswith("Invalid YAML:")
    assert line is not None


def test_a_missing_manifest_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="Bundle manifest not found"):
        load_manifest(str(tmp_path / "absent.yaml"))


def test_bundle_sync_prints_every_manifest_error_and_exits_2(tmp_path: Path) -> None:
    path = write_text(tmp_path / "m.yaml", VALID.replace("  entry_flow: flows/main.yaml\n", "  extra: 1\n"))

    res = aetherflow("bundle", "sync", "--bundle-manifest", str(path), "--work-root", str(tmp_path / "work"))

    assert res.code == ExitCode.INVALID
    assert res.stdout == ""
    assert res.stderr.splitlines() == [
        f"error: Invalid bundle manifest: {path}",
        f"- bundle.extra: bundle:invalid - Unknown bundle keys: bundle.extra [{path}:8]",
        f"- bundle.entry_flow: bundle:invalid - bundle.entry_flow is required [{path}:1]",
    ]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"type": "archive", "base_path": "b.zip", "sha256": "abc"}, "bundle.source.sha256 must be 64 hexadecimal"),
        ({"type": "archive", "base_path": "b.zip", "sha256": "g" * 64}, "bundle.source.sha256 must be 64 hexadecimal"),
        ({"type": "archive", "base_path": "b.zip", "max_mb": 0}, "bundle.source.max_mb must be a positive number"),
        ({"type": "archive", "base_path": "b.zip", "max_mb": "1e9"}, "bundle.source.max_mb must be a positive number"),
        ({"type": "archive", "base_path": "b.zip", "max_mb": True}, "bundle.source.max_mb must be a positive number"),
        ({"type": "filesystem", "base_path": "b", "sha256": "a" * 64}, "applies to archive and rest sources only"),
        ({"type": "git", "url": "r", "max_mb": 5}, "applies to archive and rest sources only"),
    ],
)
def test_a_bad_download_pin_or_cap_is_a_manifest_error(tmp_path: Path, source: dict[str, Any], message: str) -> None:
    manifest = write_manifest(tmp_path / "m.yaml", source)

    with pytest.raises(BundleManifestInvalid, match=message):
        load_manifest(str(manifest))


def test_download_pin_and_cap_are_read_with_defaults(tmp_path: Path) -> None:
    plain = load_manifest(str(write_manifest(tmp_path / "a.yaml", {"type": "archive", "base_path": "b.zip"})))
    pinned = load_manifest(
        str(
            write_manifest(
                tmp_path / "b.yaml", {"type": "archive", "url": "https://h/b.zip", "sha256": "A" * 64, "max_mb": 5}
            )
        )
    )

    assert (plain.source.sha256, plain.source.max_mb) == (None, 1024)
    assert (pinned.source.sha256, pinned.source.max_mb) == ("a" * 64, 5)
