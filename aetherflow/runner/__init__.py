"""The runner: executes a Plan against the state store (``engine``), one step attempt at a time (``attempts``)."""
