"""A typed plugin connector: ``kv:memory`` holds the resource's ``config.values`` in memory."""

from typing import Any

from aetherflow.api import Connector, ConnectorInit, register_connector


@register_connector("kv", "memory")
class MemoryKv(Connector):
    """Read-only key/value pairs from ``config.values``."""

    config_keys = frozenset({"values"})

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        self.values: dict[str, Any] = dict(init.config.get("values") or {})

    def get(self, key: str) -> Any:
        return self.values[key]
