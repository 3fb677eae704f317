"""Cluster lifecycle: the Provider protocol, one module per provider, state and specs."""
