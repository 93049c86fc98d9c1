"""The process edge: signals, settings, Kubernetes identity, Pushgateway, termination message, the entrypoint."""
