"""Logs and metrics: observers of run events."""
