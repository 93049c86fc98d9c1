"""AetherFlow: a YAML-first workflow runner for Kubernetes Jobs."""

__version__ = "0.1.0"
