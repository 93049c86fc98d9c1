"""``aetherflow bundle sync`` and ``aetherflow bundle status`` (docs/reference/cli.md).

The manifest comes from ``--bundle-manifest`` or ``AETHERFLOW_BUNDLE_MANIFEST``; the cache root from ``--work-root``,
``AETHERFLOW_WORK_ROOT``, else ``/tmp/work``. Exit codes: 0; 2 for an invalid manifest; 1 when the sync failed and
no stale bundle was allowed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``bundle sync`` and ``bundle status``."""
    bundle = subparsers.add_parser("bundle", help="sync a bundle manifest into the local cache, or show its status")
    sub = bundle.add_subparsers(dest="bundle_command", metavar="ACTION")
    sub.required = True

    sync = sub.add_parser("sync", help="fetch the bundle and activate it (atomically)")
    _common(sync)
    sync.add_argument(
        "--allow-stale-bundle",
        action="store_true",
        default=None,
        help="keep the last synced bundle when the sync fails (logged as bundle_stale)",
    )
    sync.add_argument("--json", action="store_true", help="print one JSON document")
    sync.add_argument("--print-local-root", action="store_true", help="print the active bundle path on a second line")
    sync.set_defaults(handler=_sync, parser=sync)

    status = sub.add_parser("status", help="show the cached bundle (never fetches)")
    _common(status)
    status.add_argument("--json", action="store_true", help="print one JSON document")
    status.set_defaults(handler=_status, parser=status)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bundle-manifest", metavar="PATH", help="bundle manifest (or AETHERFLOW_BUNDLE_MANIFEST)")
    parser.add_argument("--work-root", metavar="DIR", help="cache root (or AETHERFLOW_WORK_ROOT; default /tmp/work)")


def _inputs(args: argparse.Namespace) -> tuple[Any, str, str]:
    from aetherflow.settings import load_settings
    from aetherflow.spec.model import DEFAULT_WORK_ROOT

    settings = load_settings(os.environ)
    manifest = args.bundle_manifest or settings.bundle_manifest
    if not manifest:
        args.parser.error("the following arguments are required: --bundle-manifest (or AETHERFLOW_BUNDLE_MANIFEST)")
    work_root = args.work_root or settings.work_root or DEFAULT_WORK_ROOT
    return settings, str(manifest), str(work_root)


def _sync(args: argparse.Namespace) -> int:
    from aetherflow.bundles import BundleManifestInvalid, BundleSyncFailed
    from aetherflow.cli.common import dumps
    from aetherflow.edge.inputs import sync_manifest_bundle
    from aetherflow.errors import ExitCode, InputError
    from aetherflow.observability.logs import configure
    from aetherflow.redaction import Redactor

    settings, manifest, work_root = _inputs(args)
    redactor = Redactor.for_settings(settings)
    redactor.add_env(os.environ)
    configure(fmt=settings.log_format or "text", level=settings.log_level, redactor=redactor)
    allow_stale = settings.allow_stale_bundle if args.allow_stale_bundle is None else args.allow_stale_bundle
    try:  # the manifest is read as ``run --bundle-manifest`` reads it: same secrets hook, same env snapshot
        active = sync_manifest_bundle(
            os.environ,
            settings,
            manifest=manifest,
            work_root=work_root,
            allow_stale=allow_stale,
            redactor=redactor,
        )
    except BundleManifestInvalid as exc:
        return _invalid(exc, redactor.mask)
    except InputError as exc:  # the secrets hook or the env files
        print(f"error: {redactor.mask(str(exc))}", file=sys.stderr)
        return int(ExitCode.INVALID)
    except BundleSyncFailed as exc:  # 1: the source may answer next time; 3: retrying cannot help
        print(f"error: {redactor.mask(str(exc))}", file=sys.stderr)
        return int(exc.exit_code)
    if args.json:
        print(dumps(active.sync_document()))
    else:
        verdict = "CHANGED" if active.changed else "UNCHANGED"
        print(f"{verdict}: bundle synced to {active.local_root} fingerprint={active.fingerprint}")
        if args.print_local_root:
            print(active.local_root)
    return int(ExitCode.OK)


def _status(args: argparse.Namespace) -> int:
    from aetherflow.bundles import BundleManifestInvalid, bundle_status
    from aetherflow.cli.common import dumps
    from aetherflow.errors import ExitCode

    _settings, manifest, work_root = _inputs(args)
    try:
        status = bundle_status(manifest, work_root=work_root)
    except BundleManifestInvalid as exc:
        return _invalid(exc, str)
    if args.json:
        print(dumps(status))
    else:
        print(
            f"bundle_id={status['bundle_id']} fingerprint={status['fingerprint'] or '(none)'} "
            f"has_active={'yes' if status['has_active'] else 'no'}"
        )
        print(f"active_dir={status['active_dir']}")
        print(f"cache_dir={status['cache_dir']}")
        print(f"fingerprints_dir={status['fingerprints_dir']}")
    return int(ExitCode.OK)


def _invalid(exc: Any, mask: Callable[[str], str]) -> int:
    """Every ``bundle:invalid`` record of the manifest, ``validate``'s line layout, exit 2."""
    lines = [f"error: Invalid bundle manifest: {exc.path}"] + [f"- {mask(str(issue))}" for issue in exc.issues]
    print("\n".join(lines), file=sys.stderr)
    return 2
