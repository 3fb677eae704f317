"""Local clusters: detached Dask processes on this machine."""
