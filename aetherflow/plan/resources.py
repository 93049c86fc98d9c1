"""Resources as steps use them: each merged with its profile, rendered with the env root, decoded, secrets registered.

Runs at the start of ``run`` (and when a bundle is synced), after validation and the environment preflight, for the
resources the run's jobs use. The others are not built, but their secrets are still registered
(``register_unused_secrets``): redaction must not depend on which resources happen to be used.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

from aetherflow.errors import InputError, TemplateError
from aetherflow.spec.resources import (
    ResolvedResource,
    decode_paths,
    merge_resource,
    register_secret_keys,
    replace_decode_target,
)
from aetherflow.templating import ENV_ROOTS, render

if TYPE_CHECKING:
    from aetherflow.plan.model import Plan


def build_run_resources(
    plan: Plan,
    jobs: Collection[str] | None,
    env: Mapping[str, str],
    redactor: Any,
    *,
    decode: Callable[[str], str] | None = None,
) -> dict[str, ResolvedResource]:
    """Phase 7 of a run: the resources ``jobs`` (None: every job) use, built; the secrets of the others registered."""
    used = plan.env_needs.used_resources(jobs)
    profiles = plan.profiles.profiles
    register_unused_secrets({n: r for n, r in plan.resources.items() if n not in used}, profiles, env, redactor)
    wanted = {name: res for name, res in plan.resources.items() if name in used}
    return build_resources(wanted, profiles, env, redactor, decode=decode)


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


def register_unused_secrets(
    resources: Mapping[str, Any], profiles: Mapping[str, Any], env: Mapping[str, str], redactor: Any
) -> None:
    """Register the secrets of resources the run does not build: each leaf that renders (one that cannot, such as a
    missing env variable, is left out, never an error), by its key; a decode target as written (nothing is decoded)."""

    def as_written(raw: str) -> str:
        redactor.add(raw)
        return raw

    for res in resources.values():
        merged = merge_resource(res, profiles.get(res.profile) if res.profile else None)
        for section, values in (("config", merged.config), ("options", merged.options)):
            tree = _rendered_leaves(values, env)
            for path in decode_paths(merged.decode, section):
                replace_decode_target(tree, path, as_written)
            register_secret_keys(tree, redactor)


def _rendered_leaves(values: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            out[key] = _rendered_leaves(value, env)
            continue
        try:
            out[key] = render(value, {"env": env}, ENV_ROOTS)
        except TemplateError:
            continue
    return out
