"""Opening a bundle's source: the manifest's ``bundle.source`` as a lister/fetcher, a remote one through the
connector of the manifest resource it names (built like a run builds resources, resolved by the registry)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aetherflow.api import ArchiveLimits, ConnectorInit
from aetherflow.bundles.archive_source import ArchiveSource
from aetherflow.bundles.cache import BlobStore
from aetherflow.bundles.git_source import GitSource
from aetherflow.bundles.manifest import BundleManifestInvalid, Manifest
from aetherflow.bundles.remote_sources import DbSource, RestSource, S3Source, SftpSource, SmbSource
from aetherflow.bundles.sources import FileSource, FilesystemSource, SourceError, SourceRefused
from aetherflow.errors import AetherFlowError, Issue, error_text
from aetherflow.redaction import Redactor
from aetherflow.registry import Registry, RunConnectorContext

Emit = Callable[..., None]
Decode = Callable[[str], str]


class SourceOpener:
    """What opening a source needs from one sync: the manifest, the registry, and how connectors see the process."""

    def __init__(
        self,
        manifest: Manifest,
        *,
        registry: Registry,
        env: Mapping[str, str],
        redactor: Redactor,
        decode: Decode | None,
        emit: Emit,
    ) -> None:
        self.manifest = manifest
        self.registry = registry
        self.env = env
        self.redactor = redactor
        self.decode = decode
        self.emit = emit

    def open(self, blobs: BlobStore) -> FileSource | GitSource | ArchiveSource:
        """The manifest's source, ready to list (a remote one through its resource's connector; an archive's download
        goes into the ``blobs`` cache)."""
        spec = self.manifest.source
        if spec.type == "filesystem":
            assert spec.base_path is not None
            return FilesystemSource(spec.base_path, strict=spec.strict_fingerprint)
        if spec.type == "git":
            assert spec.url is not None
            manifest_dir = os.path.dirname(self.manifest.path)
            return GitSource(spec.url, ref=spec.ref, subdir=spec.base_path, manifest_dir=manifest_dir)
        if spec.type == "archive":
            location = spec.url or spec.base_path
            assert location is not None
            return ArchiveSource(
                location,
                is_url=spec.url is not None,
                blobs=blobs,
                unzip=self._unzip,
                sha256=spec.sha256,
                max_mb=spec.max_mb,
            )
        connector = self._connector()
        name = self.manifest.bundle_name
        if spec.type == "sftp" or (spec.type == "smb" and callable(getattr(connector, "list_files", None))):
            return SftpSource(connector, spec.base_path or "")  # the built-in SMB connectors walk like SFTP's
        if spec.type == "smb":
            return SmbSource(connector, spec.base_path or "")
        if spec.type == "db":
            return DbSource(connector, bundle=name, list_sql=spec.list_sql, fetch_sql=spec.fetch_sql)
        if spec.type == "rest":
            return RestSource(
                connector,
                bundle=name,
                base_path=spec.base_path or "",
                list_path=spec.list_path,
                fetch_path=spec.fetch_path,
                prefix_param=spec.prefix_param,
                max_mb=spec.max_mb,
            )
        return S3Source(connector, spec.base_path)

    def _connector(self) -> Any:
        from aetherflow.plan import build_resources

        name = self.manifest.source.resource
        assert name is not None
        try:
            resolved = build_resources(
                {name: self.manifest.resources[name]}, {}, self.env, self.redactor, decode=self.decode
            )[name]
        except (AetherFlowError, ValueError) as exc:
            issue = Issue("bundle:invalid", f"resources.{name}", error_text(exc), None, self.manifest.path)
            raise BundleManifestInvalid([issue], self.manifest.path) from None
        key = resolved.key
        if not self.registry.has_connector(key):
            known = ", ".join(self.registry.connector_names())
            raise SourceRefused(f"manifest resource '{name}' uses unknown connector {key} (registered: {known})")
        missing = self.registry.missing_extra(key)
        if missing is not None:
            raise SourceError(
                f"manifest resource '{name}' ({key}) needs {missing[0]}: install the '{missing[1]}' extra "
                f"(pip install 'aetherflow[{missing[1]}]')"
            )
        return self.registry.build_connector(resolved, self._connector_context())

    def _connector_context(self) -> RunConnectorContext:
        """What the connectors of manifest resources see: the env snapshot, events, redaction."""
        return RunConnectorContext(self.env, self.emit, self.redactor)

    def _unzip(self, archive: Path, dest: Path, limits: ArchiveLimits) -> None:
        cls = self.registry.connector_class("archive:zipfile")
        connector = cls(ConnectorInit("bundle-archive", "archive", "zipfile", {}, {}, self._connector_context()))
        try:
            connector.extract_zip(archive=archive, dest_dir=dest, limits=limits)  # type: ignore[attr-defined]
        finally:
            connector.close()
