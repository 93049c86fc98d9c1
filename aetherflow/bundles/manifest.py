"""Bundle manifest v1: read once, every problem collected as a ``bundle:invalid`` record naming the file and line.

docs/reference/plugins-and-bundles.md. Unknown keys at any level are errors (``Unknown <section> keys: <dotted keys>``).
Manifest resources are bootstrap connectors for the source: no ``profile`` (profiles live in the bundle), templated
with the ``env`` root only when the sync builds them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Final

from aetherflow.errors import InputError, Issue
from aetherflow.spec.load import YamlDocument, decode_text, did_you_mean, format_loc, parse_yaml, read_source

__all__ = [
    "SOURCE_TYPES",
    "BundleManifestInvalid",
    "LayoutSpec",
    "Manifest",
    "ManifestResource",
    "SourceSpec",
    "load_manifest",
]

CODE: Final = "bundle:invalid"
SOURCE_TYPES: Final = ("filesystem", "sftp", "smb", "db", "rest", "s3", "git", "archive")
ZIP_DRIVERS: Final = ("pyzipper", "zipfile", "os", "external")
DEFAULT_ZIP_DRIVERS: Final = ("pyzipper", "zipfile")
MODES: Final = ("internal_fast", "enterprise")

_TOP_KEYS: Final = ("version", "mode", "bundle", "resources", "paths", "zip_drivers", "env_files")
_BUNDLE_KEYS: Final = ("id", "source", "layout", "entry_flow", "fetch_policy")
_SOURCE_KEYS: Final = (
    "type",
    "resource",
    "base_path",
    "bundle",
    "list_sql",
    "fetch_sql",
    "list_path",
    "fetch_path",
    "prefix_param",
    "url",
    "ref",
    "strict_fingerprint",
    "sha256",
    "max_mb",
)
_LAYOUT_KEYS: Final = ("flows_dir", "profiles_file", "plugins_dir")
_RESOURCE_KEYS: Final = ("kind", "driver", "config", "options", "decode")
_PATHS_KEYS: Final = ("plugins",)
_NEEDS_RESOURCE: Final = ("sftp", "smb", "db", "rest", "s3")
_NEEDS_BASE_PATH: Final = ("filesystem", "sftp", "smb")
_DOWNLOADS: Final = ("archive", "rest")
#: the default cap of one download (``bundle.source.max_mb``): a bundle is flows, profiles and plugins
DEFAULT_MAX_MB: Final = 1024
_SHA256: Final = re.compile(r"^[0-9a-fA-F]{64}$")

DEFAULT_LIST_SQL: Final = "SELECT path, sha256, size, updated_at FROM assets WHERE bundle = :bundle"
DEFAULT_FETCH_SQL: Final = "SELECT data FROM assets WHERE bundle = :bundle AND path = :path"


class BundleManifestInvalid(InputError):
    """The bundle manifest has errors (exit 2); ``issues`` holds every ``bundle:invalid`` record."""

    def __init__(self, issues: list[Issue], path: str) -> None:
        first = issues[0]
        super().__init__(f"Invalid bundle manifest {path}: {first}", code=first.code, loc=first.loc)
        self.issue = first
        self.issues = issues
        self.path = path


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """``bundle.source`` with defaults applied (``local`` normalised to ``filesystem``)."""

    type: str = "filesystem"
    resource: str | None = None
    base_path: str | None = None  # relative filesystem/archive paths already resolved against the manifest's dir
    bundle: str | None = None
    list_sql: str = DEFAULT_LIST_SQL
    fetch_sql: str = DEFAULT_FETCH_SQL
    list_path: str = "/list"
    fetch_path: str = "/fetch"
    prefix_param: str = "prefix"
    url: str | None = None
    ref: str = "HEAD"
    strict_fingerprint: bool = True
    sha256: str | None = None  # archive: the archive file's sha256; rest: the bundle fingerprint
    max_mb: float = DEFAULT_MAX_MB  # cap of one download (archive, rest)


@dataclass(frozen=True, slots=True)
class LayoutSpec:
    """``bundle.layout``: paths relative to the bundle root."""

    profiles_file: str
    flows_dir: str | None = None
    plugins_dir: str | None = None


@dataclass(frozen=True, slots=True)
class ManifestResource:
    """A bootstrap resource (shaped like a flow resource, so ``build_resources`` can render it)."""

    kind: str
    driver: str
    config: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    decode: Mapping[str, Any] = field(default_factory=dict)
    profile: None = None


@dataclass(frozen=True, slots=True)
class Manifest:
    """A valid bundle manifest v1."""

    path: str  # absolute path of the manifest file
    bundle_id: str
    source: SourceSpec
    layout: LayoutSpec
    entry_flow: str
    fetch_policy: str = "cache_check"
    mode: str | None = "internal_fast"
    resources: Mapping[str, ManifestResource] = field(default_factory=dict)
    plugin_paths: tuple[str, ...] = ()  # ``paths.plugins``: the trusted (enterprise) plugin dirs
    zip_drivers: tuple[str, ...] | None = None  # None: not set (the default allow-list applies)
    env_files: tuple[Any, ...] = ()
    version: int = 1

    @property
    def bundle_name(self) -> str:
        """The bundle name for ``db``/``rest`` sources (``bundle.source.bundle``, default ``bundle.id``)."""
        return self.source.bundle or self.bundle_id


def load_manifest(path: str) -> Manifest:
    """Read and validate the manifest at ``path``; raises ``BundleManifestInvalid`` (or InputError if unreadable)."""
    absolute = os.path.abspath(path)
    text = decode_text(read_source(path, what="Bundle manifest"), path, what="Bundle manifest")
    doc, problems = parse_yaml(text, file=path)
    if doc is None:
        issues = [Issue(CODE, p.loc, f"Invalid YAML: {p.msg}", p.line, path) for p in problems]
        raise BundleManifestInvalid(issues, path)
    checker = _Checker(doc, path, absolute)
    manifest = checker.run()
    if checker.issues or manifest is None:
        raise BundleManifestInvalid(checker.issues or [Issue(CODE, "<root>", "invalid manifest", None, path)], path)
    return manifest


class _Checker:
    def __init__(self, doc: YamlDocument, path: str, absolute: str) -> None:
        self.doc = doc
        self.path = path
        self.absolute = absolute
        self.issues: list[Issue] = []

    # -- recording -------------------------------------------------------------------------------------------------
    def error(self, where: Sequence[Any], msg: str) -> None:
        self.issues.append(
            Issue(CODE, format_loc(where, self.doc.data), msg, self.doc.line_of(tuple(where)), self.path)
        )

    def unknown(self, value: Mapping[Any, Any], where: tuple[Any, ...], allowed: Sequence[str]) -> None:
        extra = [k for k in value if k not in allowed]
        if not extra:
            return
        section = format_loc(where, self.doc.data) if where else "manifest"
        dotted = ", ".join(format_loc((*where, k), self.doc.data) for k in sorted(extra, key=str))
        hint = did_you_mean(extra[0], allowed) if len(extra) == 1 else ""
        self.error((*where, extra[0]), f"Unknown {section} keys: {dotted}{hint}")

    def mapping(self, value: Any, where: tuple[Any, ...], *, required: bool) -> Mapping[Any, Any] | None:
        if value is None and not required:
            return {}
        if not isinstance(value, Mapping):
            what = "missing" if value is None else f"a {type(value).__name__}"
            self.error(where, f"{format_loc(where, self.doc.data)} must be a mapping (got {what})")
            return None
        return value

    def text(self, value: Any, where: tuple[Any, ...], *, required: bool = False) -> str | None:
        if value is None:
            if required:
                self.error(where, f"{format_loc(where, self.doc.data)} is required")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float) or not str(value).strip():
            self.error(where, f"{format_loc(where, self.doc.data)} must be a non-empty string")
            return None
        return str(value).strip() if isinstance(value, str) else str(value)

    def inside(self, value: str | None, where: tuple[Any, ...]) -> str | None:
        """A path relative to the bundle root that stays inside it."""
        if value is None:
            return None
        pure = PurePosixPath(value.replace("\\", "/"))
        if pure.is_absolute() or ".." in pure.parts:
            self.error(where, f"{format_loc(where, self.doc.data)} must be a path inside the bundle, got '{value}'")
            return None
        return str(pure)

    # -- the document ----------------------------------------------------------------------------------------------
    def run(self) -> Manifest | None:
        top = self.mapping(self.doc.data, (), required=True)
        if top is None:
            return None
        self.unknown(top, (), _TOP_KEYS)
        version = top.get("version", 1)
        if isinstance(version, bool) or version != 1:
            self.error(("version",), f"Unsupported bundle manifest version: {version!r} (must be 1)")
        mode = top.get("mode", "internal_fast")
        if mode is not None and mode not in MODES:
            self.error(("mode",), f"mode must be one of internal_fast, enterprise or null, got {mode!r}")
        resources = self.resources(top.get("resources"))
        bundle = self.mapping(top.get("bundle"), ("bundle",), required=True)
        parsed = self.bundle(bundle, resources) if bundle is not None else None
        plugin_paths = self.plugin_paths(top.get("paths"))
        zip_drivers = self.zip_drivers(top.get("zip_drivers")) if "zip_drivers" in top else None
        env_files = self.env_files(top.get("env_files"))
        if parsed is None or self.issues:
            return None
        bundle_id, source, layout, entry_flow, fetch_policy = parsed
        return Manifest(
            path=self.absolute,
            bundle_id=bundle_id,
            source=source,
            layout=layout,
            entry_flow=entry_flow,
            fetch_policy=fetch_policy,
            mode=mode,
            resources=resources,
            plugin_paths=plugin_paths,
            zip_drivers=zip_drivers,
            env_files=env_files,
        )

    def bundle(
        self, bundle: Mapping[Any, Any], resources: Mapping[str, ManifestResource]
    ) -> tuple[str, SourceSpec, LayoutSpec, str, str] | None:
        at = ("bundle",)
        self.unknown(bundle, at, _BUNDLE_KEYS)
        bundle_id = self.text(bundle.get("id"), (*at, "id"), required=True)
        if bundle_id is not None and (bundle_id in (".", "..") or "/" in bundle_id or "\\" in bundle_id):
            self.error(
                (*at, "id"), f"bundle.id names the cache directory: no '/' and not '.' or '..', got '{bundle_id}'"
            )
            bundle_id = None
        source = self.source(bundle.get("source"), resources)
        layout = self.layout(bundle.get("layout"))
        entry_flow = self.inside(
            self.text(bundle.get("entry_flow"), (*at, "entry_flow"), required=True), (*at, "entry_flow")
        )
        policy = bundle.get("fetch_policy", "cache_check")
        if policy not in ("cache_check", "always"):
            self.error((*at, "fetch_policy"), f"bundle.fetch_policy must be cache_check or always, got {policy!r}")
        if bundle_id is None or source is None or layout is None or entry_flow is None:
            return None
        return bundle_id, source, layout, entry_flow, str(policy)

    def source(self, value: Any, resources: Mapping[str, ManifestResource]) -> SourceSpec | None:
        at = ("bundle", "source")
        src = self.mapping(value, at, required=False)
        if src is None:
            return None
        self.unknown(src, at, _SOURCE_KEYS)
        kind = src.get("type", "filesystem")
        kind = "filesystem" if kind == "local" else kind
        if kind not in SOURCE_TYPES:
            self.error(
                (*at, "type"), f"bundle.source.type must be one of local, {', '.join(SOURCE_TYPES)}; got {kind!r}"
            )
            return None
        texts: dict[str, str | None] = {}
        for key in ("resource", "base_path", "bundle", "list_sql", "fetch_sql", "list_path", "fetch_path"):
            texts[key] = self.text(src.get(key), (*at, key))
        for key in ("prefix_param", "url", "ref"):
            texts[key] = self.text(src.get(key), (*at, key))
        strict = src.get("strict_fingerprint", True)
        if not isinstance(strict, bool):
            self.error((*at, "strict_fingerprint"), "bundle.source.strict_fingerprint must be true or false")
            strict = True
        pin, max_mb = self.download_keys(src, kind, strict)
        resource = texts["resource"]
        if kind in _NEEDS_RESOURCE:
            self.source_resource(resource, "resource" in src, kind, resources)
        base_path = texts["base_path"]
        if kind in _NEEDS_BASE_PATH and base_path is None and "base_path" not in src:
            self.error(at, f"bundle.source.base_path is required for source type {kind}")
        if kind == "git" and texts["url"] is None and "url" not in src:
            self.error(at, "bundle.source.url is required for source type git (a git URL or path)")
        if kind == "git" and base_path is not None:
            base_path = self.inside(base_path, (*at, "base_path"))
        if kind == "archive" and (texts["url"] is None) == (base_path is None):
            self.error(at, "bundle.source needs exactly one of url or base_path (the archive) for source type archive")
        if kind in ("filesystem", "archive") and base_path is not None:
            base_path = os.path.normpath(os.path.join(os.path.dirname(self.absolute), os.path.expanduser(base_path)))
        return SourceSpec(
            type=kind,
            resource=resource,
            base_path=base_path,
            bundle=texts["bundle"],
            list_sql=texts["list_sql"] or DEFAULT_LIST_SQL,
            fetch_sql=texts["fetch_sql"] or DEFAULT_FETCH_SQL,
            list_path=texts["list_path"] or "/list",
            fetch_path=texts["fetch_path"] or "/fetch",
            prefix_param=texts["prefix_param"] or "prefix",
            url=texts["url"],
            ref=texts["ref"] or "HEAD",
            strict_fingerprint=strict,
            sha256=pin,
            max_mb=max_mb,
        )

    def source_resource(
        self, resource: str | None, given: bool, kind: str, resources: Mapping[str, ManifestResource]
    ) -> None:
        """A remote source names a manifest resource of its own kind (``given``: the key is present, maybe empty)."""
        at = ("bundle", "source")
        if resource is None and not given:
            self.error(at, f"bundle.source.resource is required for source type {kind}")
        elif resource is not None and resource not in resources:
            known = ", ".join(sorted(resources))
            self.error(
                (*at, "resource"),
                f"bundle.source.resource '{resource}' is not a manifest resource (known: [{known}])"
                + did_you_mean(resource, resources),
            )
        elif resource is not None and resources[resource].kind != kind:
            self.error(
                (*at, "resource"),
                f"Resource '{resource}' is kind={resources[resource].kind}, source type {kind} needs kind={kind}",
            )

    def download_keys(self, src: Mapping[Any, Any], kind: str, strict: bool) -> tuple[str | None, float]:
        """``sha256`` (64 hex digits) and ``max_mb`` (a positive number), for the sources that download."""
        at = ("bundle", "source")
        for key in ("sha256", "max_mb"):
            if key in src and kind not in _DOWNLOADS:
                self.error((*at, key), f"bundle.source.{key} applies to archive and rest sources only (type is {kind})")
        pin = src.get("sha256")
        if pin is not None and not (isinstance(pin, str) and _SHA256.match(pin)):
            self.error((*at, "sha256"), "bundle.source.sha256 must be 64 hexadecimal digits")
            pin = None
        if pin is not None and kind == "rest" and not strict:
            self.error(
                (*at, "sha256"), "bundle.source.sha256 pins a rest bundle's fingerprint: it needs strict_fingerprint"
            )
        max_mb = src.get("max_mb", DEFAULT_MAX_MB)
        if isinstance(max_mb, bool) or not isinstance(max_mb, int | float) or not max_mb > 0:
            self.error((*at, "max_mb"), f"bundle.source.max_mb must be a positive number of MiB; got {max_mb!r}")
            max_mb = DEFAULT_MAX_MB
        return (pin.lower() if isinstance(pin, str) else None), float(max_mb)

    def layout(self, value: Any) -> LayoutSpec | None:
        at = ("bundle", "layout")
        layout = self.mapping(value, at, required=True)
        if layout is None:
            return None
        self.unknown(layout, at, _LAYOUT_KEYS)
        profiles = self.inside(
            self.text(layout.get("profiles_file"), (*at, "profiles_file"), required=True), (*at, "profiles_file")
        )
        flows = self.inside(self.text(layout.get("flows_dir"), (*at, "flows_dir")), (*at, "flows_dir"))
        plugins = self.inside(self.text(layout.get("plugins_dir"), (*at, "plugins_dir")), (*at, "plugins_dir"))
        if profiles is None:
            return None
        return LayoutSpec(profiles_file=profiles, flows_dir=flows, plugins_dir=plugins)

    def resources(self, value: Any) -> dict[str, ManifestResource]:
        found = self.mapping(value, ("resources",), required=False)
        out: dict[str, ManifestResource] = {}
        for name, raw in (found or {}).items():
            at = ("resources", name)
            res = self.mapping(raw, at, required=True)
            if res is None:
                continue
            if res.get("profile") is not None:  # upstream's wording; an explicit null is accepted, as upstream does
                self.error((*at, "profile"), "manifest is bootstrap; profiles not available before sync")
            self.unknown({k: v for k, v in res.items() if k != "profile"}, at, _RESOURCE_KEYS)
            kind = self.text(res.get("kind"), (*at, "kind"), required=True)
            driver = self.text(res.get("driver"), (*at, "driver"), required=True)
            sections = {key: self.mapping(res.get(key), (*at, key), required=False) for key in _RESOURCE_KEYS[2:]}
            if kind is None or driver is None or any(v is None for v in sections.values()):
                continue
            out[str(name)] = ManifestResource(
                kind=kind,
                driver=driver,
                config=dict(sections["config"] or {}),
                options=dict(sections["options"] or {}),
                decode=dict(sections["decode"] or {}),
            )
        return out

    def plugin_paths(self, value: Any) -> tuple[str, ...]:
        paths = self.mapping(value, ("paths",), required=False)
        if paths is None:
            return ()
        self.unknown(paths, ("paths",), _PATHS_KEYS)
        raw = paths.get("plugins")
        if raw is None:
            return ()
        items = [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list):
            self.error(("paths", "plugins"), "paths.plugins must be a string or a list of strings")
            return ()
        out: list[str] = []
        for i, item in enumerate(items):
            where: tuple[Any, ...] = ("paths", "plugins", i) if isinstance(raw, list) else ("paths", "plugins")
            checked = self.inside(self.text(item, where, required=True), where)
            if checked is not None:
                out.append(checked)
        return tuple(out)

    def zip_drivers(self, value: Any) -> tuple[str, ...] | None:
        if not isinstance(value, list | set | tuple):
            self.error(("zip_drivers",), f"zip_drivers must be a list of {', '.join(ZIP_DRIVERS)}")
            return None
        bad = [v for v in value if v not in ZIP_DRIVERS]
        if bad:
            self.error(("zip_drivers",), f"Unknown zip_drivers: {bad}; allowed: {', '.join(ZIP_DRIVERS)}")
            return None
        return tuple(sorted(set(value)))

    def env_files(self, value: Any) -> tuple[Any, ...]:
        from aetherflow.spec.environment import parse_env_file_specs

        if value is None:
            return ()
        if not isinstance(value, list):
            self.error(("env_files",), "env_files must be a list of env-file specs or path strings")
            return ()
        for i, item in enumerate(value):
            try:
                parse_env_file_specs([item], source="bundle env_files", secret_default=False)
            except InputError as exc:
                self.error(("env_files", i), str(exc).replace("bundle env_files[0]", f"env_files[{i}]"))
        return tuple(value)
