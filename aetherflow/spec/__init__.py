"""The flow document: its schema (``model``), loading with line numbers (``load``), profiles and the env snapshot.

Submodules are imported by name (``aetherflow.spec.load`` ...); this package imports nothing on purpose.
"""
