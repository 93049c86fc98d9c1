"""Plugins written for aetherflow-core 0.0.14, through the CLI against real servers."""
