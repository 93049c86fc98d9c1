"""Plugins in the shapes of aetherflow-core 0.0.14's demo bundles, written for these tests (not upstream's code).

They use the same ``aetherflow.core.api`` surface upstream's demo plugins use: ``require``/``require_attr`` for
optional libraries, ``ConnectorBase`` subclasses reading ``init.ctx.log``, ``RemoteFileMeta`` lists rewritten with
``dataclasses.replace`` and read back as ``m.rel_path``, ``StepResult``/``STEP_SKIPPED``, and plugin steps that
replace built-in step types. ``uc1_local``/``uc2_local`` are bundles in the layout of upstream's local demos;
``remote/plugins`` holds the connectors of the remote demos (paramiko, pysmb, smtplib) and their steps.
"""

from pathlib import Path

HERE = Path(__file__).parent
UC1_LOCAL = HERE / "uc1_local"
UC2_LOCAL = HERE / "uc2_local"
REMOTE_PLUGINS = HERE / "remote" / "plugins"
