"""Profiles: named ``config``/``options``/``decode`` blocks kept outside the flow.

See docs/reference/resources-and-profiles.md.

Sources, first that applies: the bundle's profiles file, ``AETHERFLOW_PROFILES_JSON``, ``AETHERFLOW_PROFILES_FILE``,
and in the container only ``/etc/aetherflow/profiles/profiles.yaml`` when it exists. Problems are collected as
Issues (``profile:invalid``, ``profile:source_conflict``, ``schema:*`` at ``profiles.<name>.<key>``), every message
starting ``Invalid profile configuration``; records about a file carry it in ``file``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic_core import ValidationError

from aetherflow.errors import InputError, Issue
from aetherflow.settings import CONTAINER_PROFILES_FILE, Settings
from aetherflow.spec.load import YamlDocument, decode_text, parse_yaml, read_source, schema_issues
from aetherflow.spec.model import ProfileModel, profile_schema, profile_validator

__all__ = ["PREFIX", "Profiles", "load_profiles"]

PREFIX: Final = "Invalid profile configuration: "
JSON_VAR: Final = "AETHERFLOW_PROFILES_JSON"
FILE_VAR: Final = "AETHERFLOW_PROFILES_FILE"
_LOC: Final = "profiles"


@dataclass(frozen=True)
class Profiles:
    """The loaded profiles and the problems found; ``configured`` is False when no source applies."""

    configured: bool = False
    profiles: dict[str, ProfileModel] = field(default_factory=dict)
    errors: tuple[Issue, ...] = ()
    warnings: tuple[Issue, ...] = ()
    source: str | None = None  # the file path, or AETHERFLOW_PROFILES_JSON
    raw: dict[str, Any] = field(default_factory=dict, repr=False)  # profile name -> mapping as written (scans)
    document: YamlDocument | None = field(default=None, repr=False, compare=False)

    def get(self, name: str) -> ProfileModel | None:
        """The profile called ``name``, if loaded."""
        return self.profiles.get(name)


def load_profiles(settings: Settings, *, container: bool = False, bundle_profiles_file: str | None = None) -> Profiles:
    """Load and check the configured profiles source; never raises for a bad source (the problems are Issues)."""
    warnings: list[Issue] = []
    if bundle_profiles_file is not None:
        ambient = [
            var for var, value in ((JSON_VAR, settings.profiles_json), (FILE_VAR, settings.profiles_file)) if value
        ]
        if ambient:
            warnings.append(
                Issue(
                    "profile:overridden_by_bundle",
                    ambient[0],
                    f"{' and '.join(ambient)} ignored: the bundle's profiles file is used "
                    "(profiles_overridden_by_bundle)",
                )
            )
        return _from_file(bundle_profiles_file, warnings)
    if settings.profiles_json and settings.profiles_file:
        conflict = Issue(
            "profile:source_conflict",
            JSON_VAR,
            f"{PREFIX}set only one of {JSON_VAR} or {FILE_VAR}",
        )
        return Profiles(configured=True, errors=(conflict,), source=None)
    if settings.profiles_json:
        return _from_json(settings.profiles_json, warnings)
    if settings.profiles_file:
        return _from_file(settings.profiles_file, warnings)
    if container and os.path.isfile(CONTAINER_PROFILES_FILE):
        return _from_file(CONTAINER_PROFILES_FILE, warnings)
    return Profiles(configured=False, warnings=tuple(warnings))


def _from_json(text: str, warnings: list[Issue]) -> Profiles:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        issue = Issue(
            "profile:invalid",
            JSON_VAR,
            f"{PREFIX}{JSON_VAR} is not valid JSON: {exc.msg} (line {exc.lineno} column {exc.colno})",
        )
        return Profiles(configured=True, errors=(issue,), warnings=tuple(warnings), source=JSON_VAR)
    except RecursionError:
        issue = Issue("profile:invalid", JSON_VAR, f"{PREFIX}{JSON_VAR} is not valid JSON: nested too deeply")
        return Profiles(configured=True, errors=(issue,), warnings=tuple(warnings), source=JSON_VAR)
    return _check(YamlDocument(data=data), JSON_VAR, warnings)


def _from_file(path: str, warnings: list[Issue]) -> Profiles:
    try:
        text = decode_text(read_source(path, what="Profiles file"), path, what="Profiles file")
    except InputError as exc:
        issue = Issue("profile:invalid", _LOC, f"{PREFIX}{exc}", file=path)
        return Profiles(configured=True, errors=(issue,), warnings=tuple(warnings), source=path)
    doc, problems = parse_yaml(text, file=path)
    if doc is None:
        issues = tuple(
            Issue("profile:invalid", p.loc if p.loc != "<root>" else _LOC, f"{PREFIX}{p.msg}", line=p.line, file=path)
            for p in problems
        )
        return Profiles(configured=True, errors=issues, warnings=tuple(warnings), source=path)
    return _check(doc, path, warnings)


def _check(doc: YamlDocument, source: str, warnings: list[Issue]) -> Profiles:
    data = doc.data
    if data is None:
        data = {}
    if not isinstance(data, dict):
        issue = _issue(
            doc, (), f"{PREFIX}the top level must be a mapping of profile name -> profile, got {_type_name(data)}"
        )
        return Profiles(configured=True, errors=(issue,), warnings=tuple(warnings), source=source, document=doc)
    errors: list[Issue] = []
    profiles: dict[str, ProfileModel] = {}
    raw: dict[str, Any] = {}
    validator = profile_validator()
    for name, body in data.items():
        if not isinstance(name, str) or not name:
            errors.append(
                _issue(
                    doc, (name,), f"{PREFIX}profile names must be non-empty strings, got {name!r}", loc=f"{_LOC}.{name}"
                )
            )
            continue
        if body is None:
            body = {}
        if not isinstance(body, dict):
            errors.append(
                _issue(
                    doc,
                    (name,),
                    f"{PREFIX}profile '{name}' must be a mapping with config, options "
                    f"and/or decode, got {_type_name(body)}",
                    loc=f"{_LOC}.{name}",
                )
            )
            continue
        try:
            validated = validator.validate_python(body)
        except ValidationError as exc:
            errors.extend(
                schema_issues(
                    exc.errors(), doc, profile_schema(), at=(name,), loc_head=f"{_LOC}.{name}", msg_prefix=PREFIX
                )
            )
            continue
        raw[name] = body
        profiles[name] = ProfileModel.from_validated(name, validated)
    return Profiles(
        configured=True,
        profiles=profiles,
        errors=tuple(errors),
        warnings=tuple(warnings),
        source=source,
        raw=raw,
        document=doc,
    )


def _issue(doc: YamlDocument, path: tuple[Any, ...], msg: str, *, loc: str = _LOC) -> Issue:
    return Issue("profile:invalid", loc, msg, line=doc.line_of(path), file=doc.file)


def _type_name(value: Any) -> str:
    return {list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )
