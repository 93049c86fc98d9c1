"""Resources as steps use them: each merged with its profile, rendered with the env root, decoded, secrets registered.

Runs at the start of ``run`` (and when a bundle is synced), after validation, so template errors here are real
(missing env keys) rather than static.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aetherflow.errors import InputError
from aetherflow.spec.resources import (
    ResolvedResource,
    decode_paths,
    merge_resource,
    register_secret_keys,
    replace_decode_target,
)
from aetherflow.templating import ENV_ROOTS, render


def build_resources(
    resources: Mapping[str, Any],
    profiles: Mapping[str, Any],
    env: Mapping[str, str],
    redactor: Any,
    *,
    decode: Callable[[str], str] | None = None,
) -> dict[str, ResolvedResource]:
    """Merge profiles, render config/options with the env root, decode, and register secrets.

    ``resources`` holds the flow's resource models (attributes kind, driver, profile, config, options, decode);
    ``profiles`` maps profile names to models with config/options/decode. Raises TemplateError or InputError.
    """
    out: dict[str, ResolvedResource] = {}
    for name, res in resources.items():
        merged = merge_resource(res, profiles.get(res.profile) if res.profile else None)
        dec = merged.decode
        data = {"env": env}
        config = render(merged.config, data, ENV_ROOTS)
        options = render(merged.options, data, ENV_ROOTS)
        wanted = [("config", p) for p in decode_paths(dec, "config")] + [
            ("options", p) for p in decode_paths(dec, "options")
        ]
        if wanted and decode is None:
            raise InputError(
                f"Resource '{name}' requests decode but no secrets hook is configured "
                "(set AETHERFLOW_SECRETS_MODULE or AETHERFLOW_SECRETS_PATH)",
                loc=f"resources.{name}.decode",
            )
        for section, path in wanted:
            assert decode is not None
            _apply_decode(config if section == "config" else options, path, decode, redactor)
        register_secret_keys(config, redactor)
        register_secret_keys(options, redactor)
        out[name] = ResolvedResource(name, res.kind, res.driver, config, options, res.profile)
    return out


def _apply_decode(tree: dict[str, Any], path: str, decode: Callable[[str], str], redactor: Any) -> None:
    """Replace the target at ``path`` by its decoded value; both the raw and the decoded text become secrets."""

    def decoded(raw: str) -> str:
        redactor.add(raw)
        value = decode(raw)
        redactor.add(value)
        return value

    replace_decode_target(tree, path, decoded)
