"""What the Kubernetes providers share: the KubeSpec, the Pulumi stack driver, the Dask
component, live queries, plan, preflight checks and prices."""
