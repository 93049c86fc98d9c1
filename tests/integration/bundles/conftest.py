"""Fixtures of the bundle tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.bundles.assets import AssetService, running_asset_service


@pytest.fixture
def asset_service() -> Iterator[AssetService]:
    """A bundle asset REST service (``/list``, ``/fetch``) on 127.0.0.1."""
    with running_asset_service() as service:
        yield service
