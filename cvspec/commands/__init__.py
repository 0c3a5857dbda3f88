"""One module per group of CLI commands; cvspec.cli mounts them on the main group."""
