"""``bundle sync`` and ``run --bundle-manifest`` read a manifest through one input path: the same secrets hook."""

from __future__ import annotations

import base64
import hashlib
import sqlite3
import uuid
from pathlib import Path

from aetherflow.errors import ExitCode
from tests.integration.bundles.helpers import bundle_files, content_fingerprint, tree_of, write_manifest
from tests.support.cli import CliResult, aetherflow

HOOK = """\
import base64


def decode(value):
    return base64.b64decode(value.encode()).decode()
"""

NO_HOOK = (
    "Resource 'assets' requests decode but no secrets hook is configured "
    "(set AETHERFLOW_SECRETS_MODULE or AETHERFLOW_SECRETS_PATH)"
)


def _assets(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE assets (bundle TEXT, path TEXT, sha256 TEXT, size INTEGER, updated_at REAL, data BLOB)"
        )
        conn.executemany(
            "INSERT INTO assets VALUES ('b1', ?, ?, ?, 1700000000.0, ?)",
            [(rel, hashlib.sha256(d).hexdigest(), len(d), d) for rel, d in bundle_files().items()],
        )
    return path


def _setup(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A database bundle whose path reaches the manifest only encoded, and the env of a hook that decodes it."""
    db = _assets(tmp_path / "assets.db")
    hook_dir = tmp_path / "hooks"
    hook_dir.mkdir()
    name = f"hook_{uuid.uuid4().hex[:8]}"
    (hook_dir / f"{name}.py").write_text(HOOK)
    manifest = write_manifest(
        tmp_path / "m.yaml",
        {"type": "db", "resource": "assets", "bundle": "b1"},
        resources={
            "assets": {
                "kind": "db",
                "driver": "sqlite3",
                "config": {"path": "{{env.ENC_ASSETS_PATH}}"},
                "decode": {"config": {"path": True}},
            }
        },
    )
    env = {
        "ENC_ASSETS_PATH": base64.b64encode(str(db).encode()).decode(),
        "PYTHONPATH": f"{hook_dir}:{Path.cwd()}",
        "AETHERFLOW_SECRETS_MODULE": name,
    }
    return manifest, env


def _sync(tmp_path: Path, manifest: Path, env: dict[str, str]) -> CliResult:
    return aetherflow(
        "bundle", "sync", "--bundle-manifest", str(manifest), "--work-root", str(tmp_path / "work"), env=env
    )


def _run(tmp_path: Path, manifest: Path, env: dict[str, str]) -> CliResult:
    return aetherflow(
        "run",
        "--bundle-manifest",
        str(manifest),
        "--state",
        str(tmp_path / "state.db"),
        "--work-root",
        str(tmp_path / "work"),
        env=env,
    )


def test_bundle_sync_decodes_manifest_resources_with_the_secrets_hook(tmp_path: Path) -> None:
    manifest, env = _setup(tmp_path)

    result = _sync(tmp_path, manifest, env)

    assert result.code == ExitCode.OK, result.stderr
    assert result.stdout.startswith("CHANGED: bundle synced to ")
    assert tree_of(tmp_path / "work" / "bundles" / "demo" / "active") == bundle_files()
    assert f"fingerprint={content_fingerprint(bundle_files())}" in result.stdout


def test_bundle_sync_and_run_agree_on_a_manifest_using_decode(tmp_path: Path) -> None:
    manifest, env = _setup(tmp_path)

    synced = _sync(tmp_path, manifest, env)
    ran = _run(tmp_path, manifest, env)

    assert (synced.code, ran.code) == (ExitCode.OK, ExitCode.OK), synced.stderr + ran.stderr
    assert "UNCHANGED" not in synced.stdout
    assert ran.event("bundle_synced")[0]["changed"] is False  # the run found what sync fetched


def test_bundle_sync_without_a_hook_reports_the_decode_request_like_run(tmp_path: Path) -> None:
    manifest, env = _setup(tmp_path)
    del env["AETHERFLOW_SECRETS_MODULE"]

    synced = _sync(tmp_path, manifest, env)
    ran = _run(tmp_path, manifest, env)

    assert (synced.code, ran.code) == (ExitCode.INVALID, ExitCode.INVALID)
    assert NO_HOOK in synced.stderr
    assert NO_HOOK in ran.stderr
    assert "Traceback" not in synced.stderr + ran.stderr


def test_a_failing_hook_stops_bundle_sync_with_exit_2_and_no_secret_in_the_output(tmp_path: Path) -> None:
    manifest, env = _setup(tmp_path)
    hook = next((tmp_path / "hooks").glob("hook_*.py"))
    hook.write_text("import os\ndef decode(value):\n    raise ValueError('bad token ' + os.environ['API_TOKEN'])\n")
    env["API_TOKEN"] = "s3cr3t-canary-value"

    synced = _sync(tmp_path, manifest, env)

    assert synced.code == ExitCode.INVALID
    assert "decode() failed: ValueError: bad token ***" in synced.stderr
    assert "s3cr3t-canary-value" not in synced.stderr + synced.stdout
    assert "Traceback" not in synced.stderr
