"""Bundles: a manifest names a source of flows, profiles, plugins and env files; a sync fetches it into a
fingerprinted cache under ``<work_root>/bundles/<id>/`` and activates it atomically
(docs/reference/plugins-and-bundles.md).

``sync_bundle`` returns the ``ActiveBundle`` a run rewires itself to (flow, profiles, plugin folders, env files,
mode, runner env keys, fingerprint); ``bundle_status`` reads the cache without fetching.
"""

from aetherflow.bundles.cache import BundlePaths, fingerprint_of
from aetherflow.bundles.manifest import BundleManifestInvalid, Manifest, load_manifest
from aetherflow.bundles.sync import ActiveBundle, BundleSourceRefused, BundleSyncFailed, bundle_status, sync_bundle

__all__ = [
    "ActiveBundle",
    "BundleManifestInvalid",
    "BundlePaths",
    "BundleSourceRefused",
    "BundleSyncFailed",
    "Manifest",
    "bundle_status",
    "fingerprint_of",
    "load_manifest",
    "sync_bundle",
]
