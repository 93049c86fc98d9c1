"""Walking a pydantic-core schema: the keys a closed mapping allows at a location (for "did you mean" hints)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _unwrap(schema: Mapping[str, Any], defs: dict[str, Mapping[str, Any]]) -> Mapping[str, Any]:
    while True:
        kind = schema["type"]
        if kind == "definitions":
            for item in schema["definitions"]:
                defs[item["ref"]] = item
            schema = schema["schema"]
        elif kind == "definition-ref":
            schema = defs[schema["schema_ref"]]
        elif kind in {"default", "nullable", "function-after"}:
            schema = schema["schema"]
        else:
            return schema


def allowed_keys_at(schema: Mapping[str, Any], path: tuple[Any, ...]) -> list[str] | None:
    """The keys the closed mapping at ``path`` (pydantic loc without the offending key) allows, or None."""
    defs: dict[str, Mapping[str, Any]] = {}
    node = _unwrap(schema, defs)
    for seg in path:
        kind = node["type"]
        if kind == "typed-dict":
            fld = node["fields"].get(seg)
            if fld is None:
                return None
            node = _unwrap(fld["schema"], defs)
        elif kind == "list":
            node = _unwrap(node["items_schema"], defs)
        elif kind == "dict":
            node = _unwrap(node["values_schema"], defs)
        else:
            return None
    if node["type"] != "typed-dict":
        return None
    return list(node["fields"])
