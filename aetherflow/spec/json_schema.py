"""JSON Schemas for editors and ``aetherflow schema``: the flow (from the same core schema validation uses), the
profiles file, and a structural schema of bundle manifest v1."""

from __future__ import annotations

from typing import Any, Final

from pydantic_core import core_schema as cs

from aetherflow.spec.model import flow_schema, manifest_resource_schema, profile_schema

JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"


def _json_schema(schema: cs.CoreSchema) -> dict[str, Any]:
    # imported here: only ``aetherflow schema`` needs the JSON Schema generator (~20 ms of imports)
    from pydantic.json_schema import GenerateJsonSchema

    return GenerateJsonSchema().generate(schema, mode="validation")


def flow_json_schema_base() -> dict[str, Any]:
    """The JSON Schema of a flow document without per-step/per-connector branches (the CLI adds those)."""
    out = _json_schema(flow_schema())
    out["properties"]["version"] = {"const": 1, "default": 1, "title": "Version", "type": "integer"}
    out.update({"$schema": JSON_SCHEMA_DIALECT, "title": "AetherFlow flow (Flow YAML v1)"})
    return out


def profiles_json_schema() -> dict[str, Any]:
    """The JSON Schema of a profiles file: profile name -> ``{config, options, decode}``."""
    profile = _json_schema(profile_schema())
    defs = profile.pop("$defs", {})
    defs["Profile"] = profile
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": "AetherFlow profiles",
        "type": "object",
        "additionalProperties": {"$ref": "#/$defs/Profile"},
        "$defs": defs,
    }


def manifest_json_schema() -> dict[str, Any]:
    """A structural JSON Schema of bundle manifest v1 (docs/reference/plugins-and-bundles.md): keys and basic types."""
    string = {"type": "string"}
    resource = _json_schema(manifest_resource_schema())
    resource_defs = resource.pop("$defs", {})
    resource["properties"].pop("profile", None)  # manifest resources take no profile
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": "AetherFlow bundle manifest v1",
        "type": "object",
        "additionalProperties": False,
        "required": ["bundle"],
        "properties": {
            "version": {"const": 1, "default": 1},
            "mode": {"enum": ["internal_fast", "enterprise", None], "default": "internal_fast"},
            "bundle": _manifest_bundle(),
            "resources": {"type": "object", "additionalProperties": {"$ref": "#/$defs/ManifestResource"}},
            "paths": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"plugins": {"anyOf": [string, {"type": "array", "items": string}]}},
            },
            "zip_drivers": {
                "type": "array",
                "uniqueItems": True,
                "items": {"enum": ["pyzipper", "zipfile", "os", "external"]},
            },
            "env_files": {"type": "array", "items": _manifest_env_file()},
        },
        "$defs": {**resource_defs, "ManifestResource": resource},
    }


def _manifest_bundle() -> dict[str, Any]:
    string = {"type": "string"}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "layout", "entry_flow"],
        "properties": {
            "id": string,
            "source": _manifest_source(),
            "layout": {
                "type": "object",
                "additionalProperties": False,
                "required": ["profiles_file"],
                "properties": {
                    "flows_dir": {"type": ["string", "null"]},
                    "profiles_file": string,
                    "plugins_dir": {"type": ["string", "null"]},
                },
            },
            "entry_flow": string,
            "fetch_policy": {"enum": ["cache_check", "always"], "default": "cache_check"},
        },
    }


def _manifest_source() -> dict[str, Any]:
    string = {"type": "string"}
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "type": {"enum": ["filesystem", "local", "sftp", "smb", "db", "rest", "s3", "git", "archive"]},
            "resource": string,
            "base_path": string,
            "bundle": string,
            "list_sql": string,
            "fetch_sql": string,
            "list_path": string,
            "fetch_path": string,
            "prefix_param": string,
            "url": string,
            "ref": string,
            "strict_fingerprint": {"type": "boolean"},
            "sha256": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
            "max_mb": {"type": "number", "exclusiveMinimum": 0, "default": 1024},
        },
    }


def _manifest_env_file() -> dict[str, Any]:
    string = {"type": "string"}
    formats = ["dotenv", "json", "dir", "directory", "dir-of-files"]
    return {
        "anyOf": [
            string,
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["path"],
                "properties": {
                    "type": {"enum": formats},
                    "format": {"enum": formats},
                    "path": string,
                    "optional": {"type": "boolean"},
                    "prefix": string,
                    "secret": {"type": "boolean"},
                },
            },
        ]
    }
