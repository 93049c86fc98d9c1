"""Compatibility namespace for plugins written for aetherflow-core 0.0.14 (``aetherflow.core.api``).

Nothing is imported here: a plugin pays only for ``aetherflow.core.api`` when it imports it.
"""
