"""The Flow YAML v1 and profiles schemas and their results (docs/reference/flow-yaml.md).

The schemas are written directly as pydantic-core schemas: the same engine, strict modes, error types and messages
as pydantic ``BaseModel`` classes (``missing``, ``extra_forbidden``, ``string_type``, ``literal_error`` ...), without
the class-based schema generation: the twelve equivalent ``BaseModel`` classes took ~30 ms to build per process on the
development machine, against ~0.5 ms for this validator — the difference is a large share of the cold-start budget
every CronJob pod pays (``bench/cold.py``). One definition serves validation (``flow_validator()``) and the JSON
Schema of ``aetherflow schema`` (``pydantic.json_schema.GenerateJsonSchema`` reads the same core schema).

Validated documents are plain dicts with defaults filled in; the typed results consumers hold are the frozen
dataclasses of ``aetherflow.spec.results`` (re-exported here); the JSON Schemas are ``aetherflow.spec.json_schema``.
Data only: no I/O here.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Final

from pydantic_core import PydanticCustomError, SchemaValidator
from pydantic_core import core_schema as cs

from aetherflow.spec.results import DecodeModel, ProfileModel, ResourceModel
from aetherflow.spec.schema_walk import allowed_keys_at

__all__ = [
    "DEFAULT_LAYOUT",
    "DEFAULT_STATE_PATH",
    "DEFAULT_WORK_ROOT",
    "ID_MAX_LENGTH",
    "DecodeModel",
    "ProfileModel",
    "ResourceModel",
    "allowed_keys_at",
    "flow_schema",
    "flow_validator",
    "id_error_message",
    "is_valid_id",
    "layout_path_problem",
    "manifest_resource_schema",
    "profile_schema",
    "profile_validator",
]

DEFAULT_WORK_ROOT: Final = "/tmp/work"
DEFAULT_STATE_PATH: Final = "/tmp/state/aetherflow.sqlite"
DEFAULT_LAYOUT: Final[Mapping[str, str]] = {"artifacts": "artifacts", "scratch": "scratch", "manifests": "manifests"}
ID_MAX_LENGTH: Final = 128

# ------------------------------------------------------------------------------------------------ ids and layout


def is_valid_id(value: str) -> bool:
    """docs/reference/flow-yaml.md: 1..128 characters, not ``.``/``..``, no ``/``, ``\\``, NUL or whitespace."""
    if not value or len(value) > ID_MAX_LENGTH or value in {".", ".."}:
        return False
    return not any(ch in "/\\\x00" or ch.isspace() for ch in value)


def id_error_message(value: str) -> str:
    """The spec's ``schema:invalid_id`` message for ``value``."""
    return f"Invalid id '{value}': ids may not contain '/', '\\', whitespace or NUL, and may not be '.' or '..'"


def _check_id(value: str) -> str:
    if not is_valid_id(value):
        # The value goes through the error context, so braces in it are never read as placeholders.
        raise PydanticCustomError(
            "invalid_id",
            "Invalid id '{value}': ids may not contain '/', '\\', whitespace or NUL, and may not be '.' or '..'",
            {"value": value},
        )
    return value


def layout_path_problem(value: str) -> str | None:
    """Why ``value`` is not a valid workspace layout path (relative, one or more segments, no ``..``), or None."""
    if not value:
        return "must not be empty"
    if value.startswith(("/", "\\")) or (len(value) > 1 and value[1] == ":"):
        return "must be a relative path"
    if "\x00" in value:
        return "must not contain NUL"
    segments = [seg for seg in value.replace("\\", "/").split("/") if seg]
    if not segments:
        return "must name at least one path segment"
    if ".." in segments:
        return "must not contain '..'"
    return None


def _check_layout(value: str) -> str:
    problem = layout_path_problem(value)
    if problem is not None:
        raise ValueError(f"workspace layout path {problem}: '{value}'")
    return value


# ------------------------------------------------------------------------------------------------ schema helpers


def _str() -> cs.CoreSchema:
    return cs.str_schema(strict=True)


def _id() -> cs.CoreSchema:
    return cs.no_info_after_validator_function(_check_id, cs.str_schema(strict=True))


def _int(*, ge: int | None = None) -> cs.CoreSchema:
    return cs.int_schema(strict=True, ge=ge)


def _number(*, ge: float | None = None, gt: float | None = None) -> cs.CoreSchema:
    # strict: booleans and numeric strings are rejected; integers are accepted (a number field takes both)
    return cs.float_schema(strict=True, allow_inf_nan=False, ge=ge, gt=gt)


def _optional(schema: cs.CoreSchema) -> cs.CoreSchema:
    return cs.with_default_schema(cs.nullable_schema(schema), default=None)


def _default(schema: cs.CoreSchema, value: Any) -> cs.CoreSchema:
    return cs.with_default_schema(schema, default=value)


def _factory(schema: cs.CoreSchema, factory: Any) -> cs.CoreSchema:
    return cs.with_default_schema(schema, default_factory=factory)


def _mapping() -> cs.CoreSchema:
    return cs.dict_schema(cs.str_schema(strict=True), cs.any_schema(), strict=True)


def _list_of(items: cs.CoreSchema) -> cs.CoreSchema:
    return cs.list_schema(items, strict=True)


def _object(ref: str, fields: Mapping[str, cs.CoreSchema], required: frozenset[str] = frozenset()) -> cs.CoreSchema:
    """A closed mapping (unknown keys are ``extra_forbidden``) with fields in declaration order."""
    return cs.typed_dict_schema(
        {name: cs.typed_dict_field(schema, required=name in required) for name, schema in fields.items()},
        extra_behavior="forbid",
        strict=True,
        ref=ref,
        metadata={"af_title": ref},
    )


def _literal(*values: str) -> cs.CoreSchema:
    return cs.literal_schema(list(values))


_DECODE_TREE: Final = "DecodeTree"


def _decode_tree_definition() -> cs.CoreSchema:
    """``decode.config``/``.options``: nested mappings with boolean leaves (``{a: {b: true}}``, ``{a.b: true}``).

    Recursive, so it is a definition that the document schema carries once (see :func:`_with_definitions`).
    """
    leaf = cs.union_schema(
        [cs.bool_schema(strict=True), cs.definition_reference_schema(_DECODE_TREE)],
        custom_error_type="bool_type",
    )
    return cs.dict_schema(cs.str_schema(strict=True), leaf, strict=True, ref=_DECODE_TREE)


def _with_definitions(schema: cs.CoreSchema) -> cs.CoreSchema:
    return cs.definitions_schema(schema, [_decode_tree_definition()])


def _bool_tree() -> cs.CoreSchema:
    return cs.definition_reference_schema(_DECODE_TREE)


def _decode() -> cs.CoreSchema:
    return _object(
        "Decode",
        {
            "config": _factory(_bool_tree(), dict),
            "options": _factory(_bool_tree(), dict),
            "config_paths": _factory(_list_of(_str()), list),
            "options_paths": _factory(_list_of(_str()), list),
        },
    )


def _empty_decode() -> dict[str, Any]:
    return {"config": {}, "options": {}, "config_paths": [], "options_paths": []}


# ------------------------------------------------------------------------------------------------ flow schema


def _flow_block() -> cs.CoreSchema:
    layout = _object(
        "WorkspaceLayout",
        # each key may be given alone; the others keep their defaults
        {
            name: _default(cs.no_info_after_validator_function(_check_layout, _str()), default)
            for name, default in DEFAULT_LAYOUT.items()
        },
    )
    workspace = _object(
        "Workspace",
        {
            "root": _default(_str(), DEFAULT_WORK_ROOT),
            "cleanup_policy": _default(_literal("on_success", "always", "never"), "on_success"),
            "layout": _factory(layout, lambda: dict(DEFAULT_LAYOUT)),
        },
    )
    state = _object(
        "State",
        {"backend": _default(_literal("sqlite", "file"), "sqlite"), "path": _default(_str(), DEFAULT_STATE_PATH)},
    )
    locks = _object(
        "Locks",
        {"scope": _default(_literal("none", "job", "flow"), "none"), "ttl_seconds": _default(_int(ge=5), 600)},
    )
    return _object(
        "Flow",
        {
            # flow.id is rendered (env) before its id rules apply, so the raw value is only a string here
            "id": _str(),
            "description": _optional(_str()),
            "workspace": _factory(
                workspace,
                lambda: {"root": DEFAULT_WORK_ROOT, "cleanup_policy": "on_success", "layout": dict(DEFAULT_LAYOUT)},
            ),
            "state": _factory(state, lambda: {"backend": "sqlite", "path": DEFAULT_STATE_PATH}),
            "locks": _factory(locks, lambda: {"scope": "none", "ttl_seconds": 600}),
            # an IANA name, checked once rendered (it may come from env); None: AETHERFLOW_TIMEZONE, else UTC
            "timezone": _optional(_str()),
        },
        required=frozenset({"id"}),
    )


def _resource() -> cs.CoreSchema:
    return _object(
        "Resource",
        {
            "kind": _str(),
            "driver": _str(),
            "profile": _optional(_str()),
            "config": _factory(_mapping(), dict),
            "options": _factory(_mapping(), dict),
            "decode": _factory(_decode(), _empty_decode),
        },
        required=frozenset({"kind", "driver"}),
    )


def _step() -> cs.CoreSchema:
    retry_on = _object("RetryOn", {"exceptions": _list_of(_str()), "exit_codes": _list_of(_int())})
    retry = _object(
        "Retry",
        {
            "max_attempts": _default(_int(ge=1), 1),
            "backoff_seconds": _default(_number(ge=0), 0.0),
            "factor": _default(_number(ge=1), 1.0),
            "max_delay_seconds": _optional(_number(gt=0)),
            "retry_on": _optional(retry_on),
        },
    )
    return _object(
        "Step",
        {
            "id": _id(),
            "type": _str(),
            "inputs": _factory(_mapping(), dict),
            "outputs": _factory(_mapping(), dict),
            "on_no_data": _optional(_literal("skip_job")),
            "retry": _optional(retry),
            "timeout_seconds": _optional(_number(gt=0)),
        },
        required=frozenset({"id", "type"}),
    )


def _job() -> cs.CoreSchema:
    return _object(
        "Job",
        {
            "id": _id(),
            "description": _optional(_str()),
            "depends_on": _factory(_list_of(_str()), list),
            "trigger": _default(_literal("all_success", "all_done", "one_failed"), "all_success"),
            "when": _optional(_str()),
            "steps": _list_of(_step()),
        },
        required=frozenset({"id", "steps"}),
    )


@functools.cache
def flow_schema() -> cs.CoreSchema:
    """The core schema of a whole flow document (docs/reference/flow-yaml.md)."""
    # version: a non-integer is int_type, any other integer literal_error (the chain reports the first failing link)
    version = cs.chain_schema([_int(), cs.literal_schema([1])])
    resource_name = cs.str_schema(strict=True, min_length=1)
    return _with_definitions(
        _object(
            "FlowDocument",
            {
                "version": _default(version, 1),
                "flow": _flow_block(),
                "resources": _factory(cs.dict_schema(resource_name, _resource(), strict=True), dict),
                "jobs": _list_of(_job()),
            },
            required=frozenset({"flow", "jobs"}),
        )
    )


@functools.cache
def profile_schema() -> cs.CoreSchema:
    """The core schema of one profile: only ``config``, ``options`` and ``decode``."""
    return _with_definitions(
        _object(
            "Profile",
            {
                "config": _factory(_mapping(), dict),
                "options": _factory(_mapping(), dict),
                "decode": _factory(_decode(), _empty_decode),
            },
        )
    )


@functools.cache
def manifest_resource_schema() -> cs.CoreSchema:
    """One resource of a bundle manifest: the flow's resource schema with its definitions."""
    return _with_definitions(_resource())


def flow_validator() -> SchemaValidator:
    """The validator of :func:`flow_schema` (built once per process, in well under a millisecond)."""
    return SchemaValidator(flow_schema())


@functools.cache
def profile_validator() -> SchemaValidator:
    """The validator of :func:`profile_schema`."""
    return SchemaValidator(profile_schema())
