"""Phase 5: the configured profiles source is loaded and checked, and every ``resources.<name>.profile`` resolves.

The profile sections are template-scanned like the flow's (their env reads count only for profiles of the resources
an invocation uses), and the decode targets of a resource merged with its profile are checked as one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aetherflow.plan.findings import Recorder
from aetherflow.plan.references import TemplateScanner, str_items
from aetherflow.settings import Settings
from aetherflow.spec.load import YamlDocument, did_you_mean
from aetherflow.spec.model import ProfileModel
from aetherflow.spec.profiles import Profiles, load_profiles
from aetherflow.spec.resources import deep_merge
from aetherflow.templating import ENV_ROOTS


def check_profiles(
    rec: Recorder,
    scanner: TemplateScanner,
    resources: Mapping[str, Any],
    *,
    settings: Settings,
    container: bool,
    bundle_profiles_file: str | None,
) -> Profiles:
    """Load the profiles, record their problems and the resources' bad references; ``resources`` is validated."""
    profiles = load_profiles(settings, container=container, bundle_profiles_file=bundle_profiles_file)
    for issue in profiles.errors:
        rec.add(True, issue)
    for issue in profiles.warnings:
        rec.add(False, issue)
    if profiles.document is not None:
        _scan_profiles(scanner, profiles.document, profiles.raw)
    data = profiles.document.data if profiles.document is not None else None
    written = set(data) if isinstance(data, dict) else set()
    # a source that failed as a whole (unreadable, bad YAML, not a mapping) names no profile reliably
    loaded = isinstance(data, dict) and not any(not e.loc.startswith("profiles.") for e in profiles.errors)
    for name, res in resources.items():
        pname = res["profile"]
        if not pname:
            continue
        loc, path = f"resources.{name}.profile", ("resources", name, "profile")
        if not profiles.configured:
            msg = f"Resource '{name}' references profile '{pname}' but no profiles are configured"
            rec.warn("semantic:unknown_profile", loc, msg, path)
            continue
        profile = profiles.get(pname)
        if profile is None:
            if pname in written or not loaded:
                continue  # invalid (already reported), or the source itself failed to load
            hint = did_you_mean(pname, sorted(str(p) for p in written))
            msg = f"Resource '{name}' references unknown profile '{pname}'{hint}"
            rec.error("semantic:unknown_profile", loc, msg, path)
            continue
        raw_decode = rec.doc.data["resources"][name].get("decode", {})
        config, options = deep_merge(profile.config, res["config"]), deep_merge(profile.options, res["options"])
        scanner.decode_targets(name, config, options, _merged_decode(profile, raw_decode))
    return profiles


def _scan_profiles(scanner: TemplateScanner, doc: YamlDocument, raw: Mapping[str, Any]) -> None:
    for pname, body in raw.items():
        for section in ("config", "options"):
            value = body.get(section)
            if value:
                scanner.scan(
                    f"profiles.{pname}.{section}",
                    (pname, section),
                    value,
                    ENV_ROOTS,
                    owner=("profile", pname),
                    doc=doc,
                )


def _merged_decode(profile: ProfileModel, raw_decode: Mapping[str, Any]) -> dict[str, Any]:
    """The profile's decode selection extended by the resource's own (as written in the flow)."""
    return {
        "config": deep_merge(profile.decode.config, raw_decode.get("config") or {}),
        "options": deep_merge(profile.decode.options, raw_decode.get("options") or {}),
        "config_paths": [*profile.decode.config_paths, *str_items(raw_decode.get("config_paths"))],
        "options_paths": [*profile.decode.options_paths, *str_items(raw_decode.get("options_paths"))],
    }
