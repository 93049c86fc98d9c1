"""Sample plugins for the plugin and bundle tests: folders loaded through AETHERFLOW_PLUGIN_PATHS or a bundle.

``typed/``: a step and a connector written against ``aetherflow.api``. ``legacy/``: a step and connectors written
against the aetherflow-core 0.0.14 API (``aetherflow.core.api``), unchanged. ``broken/``: a file that fails to
import. ``smb/``: an upstream-shaped SMB connector over a local directory. ``dist.py`` builds an
installed-distribution stand-in (``*.dist-info`` with ``entry_points.txt``). ``values/``: a step whose outputs
are hard to store (Decimal, NaN, cycles, bulk).
"""

from pathlib import Path

HERE = Path(__file__).parent
TYPED_DIR = HERE / "typed"
LEGACY_DIR = HERE / "legacy"
BROKEN_DIR = HERE / "broken"
SMB_DIR = HERE / "smb"
VALUES_DIR = HERE / "values"
