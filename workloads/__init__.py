"""What runs on a cluster: the built-in workloads, user scripts and the runner."""
