"""Private files: the state database (and its WAL/SHM files) is 0600 and job and bundle directories are 0700,
whatever the umask; a database an older version created readable by others is tightened when it is opened."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from aetherflow.bundles import sync_bundle
from aetherflow.state.sqlite import SqliteStore
from tests.integration.bundles.helpers import bundle_files, write_manifest, write_tree
from tests.support.cli import make_flow


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """Umask 0: without the fix, files and directories would come out world-readable (and writable)."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_a_new_state_database_and_its_wal_and_shm_files_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "state" / "state.db"

    store = SqliteStore.open(db, journal_mode="wal")
    try:
        companions = [db.with_name("state.db-wal"), db.with_name("state.db-shm")]
        assert all(p.exists() for p in companions)
        assert {p.name: mode(p) for p in [db, *companions]} == {
            "state.db": 0o600,
            "state.db-wal": 0o600,
            "state.db-shm": 0o600,
        }
    finally:
        store.close()


def test_an_existing_world_readable_database_is_tightened_when_opened(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    SqliteStore.open(db).close()
    with sqlite3.connect(db) as conn:  # what an older version left: a readable database and journal companions
        conn.execute("PRAGMA journal_mode = wal")
        conn.execute("CREATE TABLE IF NOT EXISTS scratch (x)")
        held = sqlite3.connect(db)  # keeps the -wal and -shm files while the store opens the database
    try:
        for path in (db, db.with_name("state.db-wal"), db.with_name("state.db-shm")):
            os.chmod(path, 0o644)

        SqliteStore.open(db, create=False).close()

        assert mode(db) == 0o600
        assert mode(db.with_name("state.db-wal")) == 0o600
        assert mode(db.with_name("state.db-shm")) == 0o600
    finally:
        held.close()


def test_job_directories_are_private_to_the_runner_user(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """
        version: 1
        flow:
          id: private_dirs
          workspace: {cleanup_policy: never}
        jobs:
          - id: j
            steps:
              - id: s
                type: external.process
                inputs: {command: ["/bin/true"]}
        """,
    )

    result = flow.run()

    assert result.code == 0, result.stderr
    job_root = flow.work / "private_dirs" / "j" / "r1"
    dirs = [flow.work / "private_dirs", flow.work / "private_dirs" / "j", job_root]
    dirs += [job_root / name for name in ("artifacts", "scratch", "manifests")]
    assert {str(d.relative_to(flow.work)): oct(mode(d)) for d in dirs} == {
        str(d.relative_to(flow.work)): "0o700" for d in dirs
    }
    assert mode(flow.state) == 0o600


def test_bundle_and_cache_directories_are_private_to_the_runner_user(tmp_path: Path) -> None:
    write_tree(tmp_path / "src", bundle_files())
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "filesystem", "base_path": "src"})

    active = sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=False)

    root = tmp_path / "work" / "bundles" / "demo"
    for directory in (tmp_path / "work" / "bundles", root, root / "cache", root / "versions", root / "fingerprints"):
        assert mode(directory) == 0o700, directory
    assert mode(active.active_dir.resolve()) == 0o700
