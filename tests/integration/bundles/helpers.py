"""Helpers of the bundle tests: bundle trees, manifests, and the spec's fingerprint computed independently."""

from __future__ import annotations

import hashlib
import json
import shutil
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.plugins import TYPED_DIR


def greet_flow(name: str) -> str:
    """The bundle's entry flow: flow ``bundled``, one ``greet`` step whose ``name`` input is ``name`` (a template)."""
    return f"""\
version: 1
flow:
  id: bundled
jobs:
  - id: greet
    steps:
      - id: hello
        type: greet
        inputs:
          name: "{name}"
"""


FLOW = greet_flow("{{env.GREET_NAME}}")

PROFILES = "{}\n"


def bundle_files(*, flow: str = FLOW, with_plugin: bool = True) -> dict[str, bytes]:
    """The files of a small bundle: entry flow, profiles, an env file and (optionally) the typed plugin."""
    files = {
        "flows/main.yaml": flow.encode(),
        "profiles.yaml": PROFILES.encode(),
        "env/app.env": b"GREET_NAME=bundle\n",
    }
    if with_plugin:
        files["plugins/greet.py"] = (TYPED_DIR / "greet.py").read_bytes()
    return files


def write_tree(root: Path, files: Mapping[str, bytes]) -> Path:
    """Write ``files`` (relative path -> bytes) under ``root``."""
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def write_manifest(
    path: Path,
    source: Mapping[str, Any],
    *,
    bundle_id: str = "demo",
    resources: Mapping[str, Any] | None = None,
    **top: Any,
) -> Path:
    """A manifest v1 for a bundle with the layout of ``bundle_files``; ``top`` adds top-level keys."""
    document: dict[str, Any] = {
        "version": 1,
        "bundle": {
            "id": bundle_id,
            "source": dict(source),
            "layout": {"profiles_file": "profiles.yaml", "flows_dir": "flows", "plugins_dir": "plugins"},
            "entry_flow": "flows/main.yaml",
        },
        "env_files": ["env/app.env"],
    }
    if resources:
        document["resources"] = dict(resources)
    document.update(top)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def write_text(path: Path, text: str) -> Path:
    """Write dedented text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def content_fingerprint(files: Mapping[str, bytes]) -> str:
    """The spec's fingerprint of a strict bundle: sha256 of compact JSON ``[[path, "sha256:<hex>"], ...]``."""
    pairs = [[rel, "sha256:" + hashlib.sha256(data).hexdigest()] for rel, data in sorted(files.items())]
    return hashlib.sha256(json.dumps(pairs, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def tree_of(root: Path) -> dict[str, bytes]:
    """Every regular file under ``root`` (following the ``active`` link)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
