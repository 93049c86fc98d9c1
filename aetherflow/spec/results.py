"""The typed results of validating a flow's resources and a profiles file: frozen dataclasses, data only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class DecodeModel:
    """Which resource leaves go through the secrets hook: nested boolean maps and/or dotted path lists."""

    config: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    config_paths: tuple[str, ...] = ()
    options_paths: tuple[str, ...] = ()

    @classmethod
    def from_validated(cls, data: Mapping[str, Any]) -> DecodeModel:
        """Build from a mapping validated by the decode schema."""
        return cls(
            config=data.get("config", {}),
            options=data.get("options", {}),
            config_paths=tuple(data.get("config_paths", ())),
            options_paths=tuple(data.get("options_paths", ())),
        )

    def is_empty(self) -> bool:
        """True when nothing is decoded."""
        return not (self.config or self.options or self.config_paths or self.options_paths)

    def as_dict(self) -> dict[str, Any]:
        """The decode map as written in YAML: ``{config, options, config_paths, options_paths}``."""
        return {
            "config": dict(self.config),
            "options": dict(self.options),
            "config_paths": list(self.config_paths),
            "options_paths": list(self.options_paths),
        }

    def model_dump(self, *, exclude_none: bool = False) -> dict[str, Any]:
        """Same as :meth:`as_dict` (the pydantic-style name; no field is ever None)."""
        return self.as_dict()


@dataclass(frozen=True, slots=True)
class ResourceModel:
    """One ``resources.<name>`` entry as written in the flow (before profile merge, rendering and decode)."""

    name: str
    kind: str
    driver: str
    profile: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    decode: DecodeModel = field(default_factory=DecodeModel)

    @property
    def key(self) -> str:
        """The registry key ``kind:driver``."""
        return f"{self.kind}:{self.driver}"

    @classmethod
    def from_validated(cls, name: str, data: Mapping[str, Any]) -> ResourceModel:
        """Build from a mapping validated by the resource schema."""
        return cls(
            name=name,
            kind=data["kind"],
            driver=data["driver"],
            profile=data.get("profile"),
            config=data.get("config", {}),
            options=data.get("options", {}),
            decode=DecodeModel.from_validated(data.get("decode", {})),
        )


@dataclass(frozen=True, slots=True)
class ProfileModel:
    """One profile: ``config``/``options``/``decode`` merged under every resource that names it."""

    name: str
    config: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    decode: DecodeModel = field(default_factory=DecodeModel)

    @classmethod
    def from_validated(cls, name: str, data: Mapping[str, Any]) -> ProfileModel:
        """Build from a mapping validated by :func:`profile_schema`."""
        return cls(
            name=name,
            config=data.get("config", {}),
            options=data.get("options", {}),
            decode=DecodeModel.from_validated(data.get("decode", {})),
        )
