"""scalecloud: scale an ML experiment from a laptop to a cluster."""
