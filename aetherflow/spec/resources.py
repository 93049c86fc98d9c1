"""Resources as the runner uses them: profile merged, rendered with the env root, decoded.

``ResolvedResource`` is what ``ctx.connector(name)`` builds a connector from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aetherflow.secret_forms import AUTH_HEADERS


@dataclass(frozen=True, slots=True)
class ResolvedResource:
    """One flow resource after profile merge, env rendering and decode."""

    name: str
    kind: str
    driver: str
    config: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    profile: str | None = None

    @property
    def key(self) -> str:
        """The registry key ``kind:driver``."""
        return f"{self.kind}:{self.driver}"


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Mappings merge recursively; any other value (lists included) is replaced by ``top``'s."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def register_secret_keys(value: Any, redactor: Any) -> None:
    """Register every string leaf by its key (secret-named keys and auth headers whole, URL passwords and secret
    query parameters of any other value) and the basic-auth form of each user/password pair."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, str):
                redactor.add_keyed(str(key), item)
            else:
                register_secret_keys(item, redactor)
        _register_basic_pair(value, redactor)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                redactor.add_value_forms(item)
            else:
                register_secret_keys(item, redactor)


def register_input_secrets(value: Any, redactor: Any, *, headers: bool = False) -> None:
    """Register the secrets inside rendered step inputs: URL passwords and secret query parameters of any string,
    and ``Authorization`` or secret-named entries of a ``headers`` mapping. Other secret-named input keys are not
    secrets here (an S3 object ``key`` is a file name)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            name = str(key)
            if isinstance(item, str):
                redactor.add_keyed(name if headers or name.upper() in AUTH_HEADERS else "", item)
            else:
                register_input_secrets(item, redactor, headers=name.lower() == "headers")
    elif isinstance(value, list):
        for item in value:
            register_input_secrets(item, redactor)
    elif isinstance(value, str):
        redactor.add_value_forms(value)


#: key names that hold the user of a basic-auth pair next to a secret-named password key
_USER_KEYS = ("username", "user", "login", "user_name")


def _register_basic_pair(mapping: Mapping[Any, Any], redactor: Any) -> None:
    user = next((mapping[k] for k in _USER_KEYS if isinstance(mapping.get(k), str)), None)
    if user is None:
        return
    for key, item in mapping.items():
        if isinstance(item, str) and redactor.is_secret_name(str(key)):
            redactor.add_basic_pair(user, item)


def decode_paths(decode: Mapping[str, Any], section: str) -> list[str]:
    """Dotted paths of ``section`` (config/options) that go through the secrets hook, in a stable order."""
    paths: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                walk(value, f"{prefix}.{key}" if prefix else str(key))
        elif node is True and prefix:
            paths.append(prefix)

    walk(decode.get(section) or {}, "")
    for path in decode.get(f"{section}_paths") or []:
        if path not in paths:
            paths.append(str(path))
    return paths


def replace_decode_target(tree: dict[str, Any], path: str, change: Callable[[str], str]) -> None:
    """Replace the string at dotted ``path`` of ``tree`` (a decode target) with ``change(string)``.

    A path that leads nowhere, or to a value that is not a string, leaves ``tree`` unchanged.
    """
    parts = path.split(".")
    node: Any = tree
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return
    if isinstance(node, dict) and isinstance(node.get(parts[-1]), str):
        node[parts[-1]] = change(node[parts[-1]])


def merge_decode(profile: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """Profile decode under the resource's: bool maps merge recursively, ``*_paths`` concatenate (deduplicated)."""
    merged = deep_merge(
        {k: v for k, v in profile.items() if not k.endswith("_paths")},
        {k: v for k, v in own.items() if not k.endswith("_paths")},
    )
    for key in ("config_paths", "options_paths"):
        items = [*(profile.get(key) or []), *(own.get(key) or [])]
        if items:
            merged[key] = list(dict.fromkeys(items))
    return merged


@dataclass(frozen=True, slots=True)
class MergedResource:
    """A resource's ``config``/``options``/``decode`` after the profile merge, before rendering.

    ``sources`` says, per section and top-level key, whether the value comes from the ``profile`` or the
    ``resource`` (the flow file); a key the resource sets over a profile value is ``resource``.
    """

    config: dict[str, Any]
    options: dict[str, Any]
    decode: dict[str, Any]
    sources: Mapping[str, Mapping[str, str]]


def _decode_map(decode: Any) -> Mapping[str, Any]:
    if decode is None:
        return {}
    if isinstance(decode, Mapping):
        return decode
    dumped: Mapping[str, Any] = decode.model_dump(exclude_none=True)
    return dumped


def merge_resource(res: Any, profile: Any | None) -> MergedResource:
    """Deep-merge the resource over its profile (``None``: no profile, or the profile is unknown)."""
    sections: dict[str, dict[str, Any]] = {}
    sources: dict[str, dict[str, str]] = {}
    for section in ("config", "options"):
        base = dict(getattr(profile, section, None) or {})
        own = dict(getattr(res, section, None) or {})
        sections[section] = deep_merge(base, own)
        sources[section] = {key: "resource" if key in own else "profile" for key in sections[section]}
    decode = merge_decode(_decode_map(getattr(profile, "decode", None)), _decode_map(getattr(res, "decode", None)))
    return MergedResource(sections["config"], sections["options"], decode, sources)
