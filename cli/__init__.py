"""scalecloud command line: typer commands, rich rendering and the one error boundary."""
