"""Everything a command reads before validating a flow, built one way for ``run``, ``container`` and ``validate``.

Settings are given; from them come the redactor, the secrets hook, the env snapshot, the bundle (synced, and the
settings, env, flow path and plugin folders it rewires), and the step/connector registry with plugins loaded
(docs/concepts/runs.md, phases 2-4). Input problems raise ``InputError`` (exit 2); nothing here runs a step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aetherflow.errors import Issue
from aetherflow.settings import CONTAINER_FLOW_FILE, CONTAINER_WORK_ROOT, Settings

if TYPE_CHECKING:
    from aetherflow.bundles.sync import ActiveBundle
    from aetherflow.plan import Plan
    from aetherflow.redaction import Redactor
    from aetherflow.registry import Registry
    from aetherflow.spec.secrets import SecretsHook

Emit = Callable[..., None]

#: flow.workspace.root's default, the work root when no setting or flag names one
DEFAULT_WORK_ROOT = "/tmp/work"


@dataclass
class RunInputs:
    """The inputs of one validation or run."""

    settings: Settings
    redactor: Redactor
    hook: SecretsHook | None
    env: Mapping[str, str]
    registry: Registry
    flow_path: str | None
    bundle: ActiveBundle | None = None
    warnings: list[Issue] = field(default_factory=list)

    def plan_options(self) -> dict[str, Any]:
        """The bundle's part of ``build_plan``/``validate_flow`` keyword arguments."""
        if self.bundle is None:
            return {}
        return {
            "bundle_profiles_file": str(self.bundle.profiles_file) if self.bundle.profiles_file else None,
            "archive_drivers": self.bundle.zip_drivers,
        }

    def hook_problems(self, plan: Plan) -> list[Issue]:
        """Resources of ``plan`` requesting ``decode`` while no secrets hook is configured (none when one is)."""
        return [] if self.hook is not None else decode_without_hook(plan)


def decode_without_hook(plan: Plan) -> list[Issue]:
    """The resources of ``plan`` requesting ``decode``, as the run-start input error, one record each.

    ``validate``, ``doctor`` and ``run`` report it with this one record, before anything runs.
    """
    from aetherflow.spec.resources import decode_paths, merge_resource

    found: list[Issue] = []
    for name, res in plan.resources.items():
        decode = merge_resource(res, plan.profiles.get(res.profile) if res.profile else None).decode
        if decode_paths(decode, "config") or decode_paths(decode, "options"):
            message = (
                f"Resource '{name}' requests decode but no secrets hook is configured "
                "(set AETHERFLOW_SECRETS_MODULE or AETHERFLOW_SECRETS_PATH)"
            )
            found.append(Issue("settings:invalid", f"resources.{name}.decode", message))
    return found


def prepare_inputs(
    environ: Mapping[str, str],
    settings: Settings,
    *,
    flow_yaml: str | None,
    container: bool = False,
    emit: Emit | None = None,
    redactor: Redactor | None = None,
) -> RunInputs:
    """Secrets hook, env snapshot, bundle and plugins, in the run's order (``redactor``: the log handler's)."""
    from aetherflow.plugins import load_plugins
    from aetherflow.redaction import Redactor
    from aetherflow.registry import Registry

    redactor = redactor if redactor is not None else Redactor.for_settings(settings)
    work_root = settings.work_root or (CONTAINER_WORK_ROOT if container else DEFAULT_WORK_ROOT)
    hook, env, warnings = _hook_and_env(environ, settings, redactor, work_root)
    bundle = None
    flow_path = flow_yaml or settings.flow_file or (CONTAINER_FLOW_FILE if container else None)
    if settings.bundle_manifest:
        bundle = _sync(
            settings.bundle_manifest, settings.allow_stale_bundle, hook, env, work_root, emit=emit, redactor=redactor
        )
        if bundle.mode is not None:  # the manifest's mode wins over the ambient one
            settings = settings.with_overrides(mode=bundle.mode, mode_enterprise=bundle.mode == "enterprise")
        env = _snapshot(environ, settings, redactor, hook, extra=bundle.runner_env(), bundle_files=bundle.env_files)
        if flow_yaml:
            flow_path = flow_yaml if Path(flow_yaml).is_absolute() else str(bundle.active_dir / flow_yaml)
        elif bundle.flow_path is not None:
            flow_path = str(bundle.flow_path)
    redactor.add_env(env)
    registry = Registry.builtin()
    warnings += load_plugins(
        registry,
        settings=settings,
        extra_paths=bundle.plugin_dirs(enterprise=settings.enterprise) if bundle is not None else (),
        trusted_paths=bundle.trusted_paths if bundle is not None else None,
        enterprise=settings.enterprise,
        emit=emit,
    )
    return RunInputs(settings, redactor, hook, env, registry, flow_path, bundle, warnings)


def sync_manifest_bundle(
    environ: Mapping[str, str],
    settings: Settings,
    *,
    manifest: str,
    work_root: str,
    allow_stale: bool,
    emit: Emit | None = None,
    redactor: Redactor,
) -> ActiveBundle:
    """``bundle sync``: the bundle of ``manifest`` synced exactly as ``run --bundle-manifest`` syncs it (the same
    secrets hook and env snapshot render and decode the manifest's resources). Input problems raise InputError."""
    hook, env, _warnings = _hook_and_env(environ, settings, redactor, work_root)
    return _sync(manifest, allow_stale, hook, env, work_root, emit=emit, redactor=redactor)


def _hook_and_env(
    environ: Mapping[str, str], settings: Settings, redactor: Redactor, work_root: str
) -> tuple[SecretsHook | None, Mapping[str, str], list[Issue]]:
    """The secrets hook and the env snapshot the manifest is rendered with, plus the hook's warnings."""
    warnings: list[Issue] = []
    hook = _secrets_hook(settings, environ, redactor, warnings)
    env = _snapshot(environ, settings, redactor, hook, extra=_runner_keys(work_root))
    return hook, env, warnings


def _sync(
    manifest: str,
    allow_stale: bool,
    hook: SecretsHook | None,
    env: Mapping[str, str],
    work_root: str,
    *,
    emit: Emit | None,
    redactor: Redactor,
) -> ActiveBundle:
    from aetherflow.bundles.sync import sync_bundle
    from aetherflow.registry import Registry

    return sync_bundle(
        manifest,
        work_root=work_root,
        allow_stale=allow_stale,
        registry=Registry.builtin(),
        emit=emit,
        env=env,
        redactor=redactor,
        decode=hook.decode if hook is not None else None,
    )


def _secrets_hook(
    settings: Settings, environ: Mapping[str, str], redactor: Redactor, warnings: list[Issue]
) -> SecretsHook | None:
    if not ((settings.secrets_module or "").strip() or (settings.secrets_path or "").strip()):
        return None
    from aetherflow.spec.secrets import load_secrets_hook

    hook = load_secrets_hook(settings, redactor=redactor, environ=environ)
    if hook is not None:
        warnings.extend(hook.warnings)
    return hook


def _runner_keys(work_root: str) -> dict[str, str]:
    from aetherflow.spec.environment import runner_env_keys

    return runner_env_keys(work_root)


def _snapshot(
    environ: Mapping[str, str],
    settings: Settings,
    redactor: Redactor,
    hook: SecretsHook | None,
    *,
    extra: Mapping[str, str],
    bundle_files: Any = (),
) -> Mapping[str, str]:
    from aetherflow.spec.environment import build_env_snapshot

    expand = hook.expand_env if hook is not None and hook.has_expand_env else None
    return build_env_snapshot(environ, settings, redactor, bundle_env_files=bundle_files, extra=extra, expand=expand)
